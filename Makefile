# The two entry points of the README. Both install what they need first (./install.sh is idempotent).
PDK_ROOT_DEFAULT := $(firstword $(wildcard ../shared/pdks) $(PDK_ROOT))
export KCHIP_PDK_ROOT ?= $(PDK_ROOT_DEFAULT)
DESIGN ?= npu_core
RUN_DIR ?= runs/$(DESIGN)
# DRC, LVS and timing run side by side
JOBS ?= 2

.PHONY: install flow test

install:
	./install.sh

flow: install
	.venv/bin/kchip flow run --design $(DESIGN) --pdk sky130A --run-dir $(RUN_DIR) --jobs $(JOBS)

test: install
	.venv/bin/python -m pytest
