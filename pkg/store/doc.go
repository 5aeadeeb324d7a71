// Package store reads a repository's objects where they live away from
// this machine: on a web server, read-only (HTTP); S3 is to come (a
// repository in a directory is read by package repo itself). Objects are named by slash-separated keys relative to the
// repository ("lifeboat-repo.json", "images/laptop.lbi",
// "chunks/3fa/3fa9...zst"), and are written once and never changed, so a
// static web server or an object store can hold a repository with no
// logic of its own.
//
// HTTP reads objects with GET (Get) and HEAD (Stat), and lists a
// "directory" (List) from the index page the server makes of it: the
// links of nginx's and Apache's autoindex and of Go's file server, in
// HTML, or nginx's JSON autoindex. Each request is tried again after a
// failure that may pass (a timeout, a connection refused or reset, a
// 5xx or 429 answer, a body cut short) with exponential backoff from 100
// ms up to 5 s between tries, until the request's RetryFor (2 minutes by
// default) has gone by or its context ends: a server that restarts in the
// middle of a restore costs time, not the job. What cannot pass (404, 401,
// 403, a certificate that does not check, a name that does not resolve)
// fails at once, with an error that names the URL and says what failed;
// a missing object is fs.ErrNotExist. An object larger than the caller's
// bound is refused before it is read.
package store
