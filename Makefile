# Two commands do all set-up on a fresh machine:
#   make run    JupyterLab with the extension on examples/demo.ipynb
#   make test   every test (what CI runs through .ci/run)
# and one makes the release files:
#   make dist   dist/*.whl and dist/*.tar.gz from the committed tree, with the production front end
.PHONY: run test dist
run:
	bash scripts/run.sh
test:
	bash scripts/test.sh
dist:
	bash scripts/setup.sh lab
	bash scripts/dist.sh
