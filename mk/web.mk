# The dashboard's front end: cloud/web/ui (sources, pinned npm packages) is
# bundled by esbuild into cloud/web/dist, which is committed so that
# `go build ./...` works on a fresh clone; cloud/web's TestBundleIsFresh
# fails when dist differs from a fresh bundle of the sources.
.PHONY: web

web:
	npm ci --prefix cloud/web/ui --no-audit --no-fund --loglevel=error
	cd cloud/web/ui && node build.mjs ../dist
