package ops

import (
	"context"

	"github.com/lifeboat-dev/lifeboat/pkg/progress"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// DeleteImage deletes an image and reclaims the chunks no other image
// uses (repo.Repo.Delete): refused with a *repo.LockedError while a
// capture into the repository runs.
func DeleteImage(ctx context.Context, repoDir, name string, tr *progress.Tracker) (repo.DeleteResult, error) {
	r, err := repo.Open(repoDir)
	if err != nil {
		return repo.DeleteResult{}, err
	}
	return r.Delete(ctx, name, repo.PruneOptions{Progress: tr})
}

// Prune removes what no image of the repository uses (repo.Repo.Prune).
func Prune(ctx context.Context, repoDir string, dryRun bool, tr *progress.Tracker) (repo.PruneResult, error) {
	r, err := repo.Open(repoDir)
	if err != nil {
		return repo.PruneResult{}, err
	}
	return r.Prune(ctx, repo.PruneOptions{DryRun: dryRun, Progress: tr})
}

// SetNote sets an image's note; "" removes it.
func SetNote(repoDir, name, text string) error {
	r, err := repo.Open(repoDir)
	if err != nil {
		return err
	}
	return r.SetNote(name, text)
}
