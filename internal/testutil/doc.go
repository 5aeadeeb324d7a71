// Package testutil holds helpers shared by Lifeboat's tests: running the
// real tools (sgdisk, sfdisk, mkfs.*) that make and check test disks, and
// attaching sparse files as loop devices.
//
// A missing tool or missing root rights fails the test with a message that
// says how to get them (`make deps`, run as root); nothing skips silently.
package testutil
