package ops

import (
	"context"

	"github.com/lifeboat-dev/lifeboat/pkg/claim"
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

// OpenedImage is an image opened to be read in place (mounted, browsed,
// files copied out): its repository's read lock keeps deletes and prunes
// from removing its chunks until Close.
type OpenedImage struct {
	*repo.Image
	codec *repo.Codec
	lock  *repo.Lock
	claim *claim.Held
}

// OpenImage opens image name of the repository at repoDir for reading in
// place. With env.Claims set it holds a claim of no disk until Close: the
// loop devices a mount of the image makes hold the image's file systems,
// and the repository finder passes over loop devices while a claim is
// live.
func OpenImage(env Env, repoDir, name string) (_ *OpenedImage, err error) {
	r, err := repo.Open(repoDir)
	if err != nil {
		return nil, err
	}
	held, err := env.claim("browse of image " + name)
	if err != nil {
		return nil, err
	}
	codec, err := repo.NewCodec(repo.LevelDefault, 0)
	if err != nil {
		held.Release()
		return nil, err
	}
	defer func() {
		if err != nil {
			codec.Close()
			held.Release()
		}
	}()
	lk, err := r.LockRead(repo.OpBrowse, name)
	if err != nil {
		return nil, err
	}
	im, err := r.OpenImage(name, codec)
	if err != nil {
		lk.Unlock()
		return nil, err
	}
	return &OpenedImage{Image: im, codec: codec, lock: lk, claim: held}, nil
}

// Close releases the image, its lock and its claim.
func (o *OpenedImage) Close() error {
	err := o.lock.Unlock()
	o.codec.Close()
	if cerr := o.claim.Release(); err == nil {
		err = cerr
	}
	return err
}
