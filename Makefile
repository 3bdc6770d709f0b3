# Two commands do all set-up on a fresh machine:
#   make run    JupyterLab with the extension on examples/demo.ipynb
#   make test   every test (what CI runs through .ci/run)
.PHONY: run test
run:
	bash scripts/run.sh
test:
	bash scripts/test.sh
