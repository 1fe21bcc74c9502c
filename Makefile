# Herald: `make run` starts everything on this machine; `make test` runs every test.
# Both install what is missing first (npm packages; Debian's nats-server when root).
SHELL := /bin/bash
NPM_STAMP := node_modules/.herald-installed

.PHONY: install build lint test run crds clean

install: $(NPM_STAMP)
	@scripts/ensure-nats-server.sh

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(NPM_STAMP)

build: install
	npm run build

lint: install
	npm run lint

test: install
	npm test

run: build
	node dist/cli/herald.js run

crds: install
	npm run gen:crds

clean:
	rm -rf dist .herald
