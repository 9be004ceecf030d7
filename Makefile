# idm: every target runs inside one virtual environment, created once and reused.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= ../shared
# Released weights: $IDM_CHECKPOINTS/<model>/ when set (tests and CI use ../shared/pretrained),
# otherwise ~/.cache/idm/<model>/, downloaded on first use.
export IDM_CHECKPOINTS ?= $(if $(wildcard $(SHARED)/pretrained),$(abspath $(SHARED)/pretrained),)

JOBS ?= $(shell nproc 2>/dev/null || echo 1)
# training: torchrun with NPROC processes per node (one per GPU; on the CPU, gloo ranks)
CONFIG ?= configs/idm_stemgmd.yaml
NPROC ?= 1
NNODES ?= 1
RDZV ?=
RUN_ID ?= idm
ARGS ?=
TORCHRUN_NODES := $(if $(filter 1,$(NNODES)),--standalone,--nnodes=$(NNODES) --rdzv-backend=c10d --rdzv-endpoint=$(RDZV) --rdzv-id=$(RUN_ID))

# evaluation: systems on a split of a preprocessed folder (or a folder of track folders)
SPLIT ?= eval_session_test_kits
MODELS ?= idm-44-train-kits oracle-irm

.PHONY: venv demo demo-data kits-data kits-train kits-results transcriber transcriber-bank transcriber-holdout transcriber-holdout-separation transcriber-results device-check preprocess train finetune kits-adaptation nmfd-templates eval test bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test]'
	touch $@

demo: venv
	$(BIN)/python -m idm.demo demo/groove.wav
	$(BIN)/python -m idm separate demo/groove.wav -o demo/separated --overwrite

# StemGMD -> manifest, annotations, mixtures, evaluation stems and training cache (resumable)
preprocess: venv
	@test -n "$(STEMGMD)" -a -n "$(OUT)" || { echo "usage: make preprocess STEMGMD=/path/to/StemGMD OUT=/path/to/output [JOBS=$(JOBS)]"; exit 2; }
	$(BIN)/python -m data.preprocess stemgmd "$(STEMGMD)" "$(OUT)" -j $(JOBS)

# recorded acoustic kits (apt-get install fluidsynth avldrums.lv2-soundfont hydrogen-drumkits):
# OUT/stemgmd (a StemGMD-shaped tree), OUT/one_shots, OUT/kits_report.md, and OUT/data preprocessed,
# with the NMFD templates of the kits' one-shots
PERFORMANCES ?= 120
PERFORMANCE_SECONDS ?= 30
ADAPT_PERFORMANCES ?= 12
kits-data: venv
	@test -n "$(OUT)" || { echo "usage: make kits-data OUT=/path/to/output [PERFORMANCES=$(PERFORMANCES)] [PERFORMANCE_SECONDS=$(PERFORMANCE_SECONDS)]"; exit 2; }
	$(BIN)/python -m data.kits_data "$(OUT)" --performances $(PERFORMANCES) --seconds $(PERFORMANCE_SECONDS) --adapt $(ADAPT_PERFORMANCES)
	$(BIN)/python -m data.preprocess stemgmd "$(OUT)/stemgmd" "$(OUT)/data" -j $(JOBS) --keep-unsplit
	$(BIN)/python -m baselines.nmf.templates "$(OUT)/data/nmfd_templates.pt" --one-shots "$(OUT)/one_shots"

# the README's "Results on recorded kits": the kits set (made once), then every system on its test kits,
# with the released model trained further on the training kits (make kits-train) when its checkpoint exists
KITS ?= datasets/kits
# the kits set, made once (its NMFD templates are written last)
KITS_SET = test -f "$(KITS)/data/nmfd_templates.pt" || $(MAKE) kits-data OUT="$(KITS)"
KITS_TRAINED ?= runs/idm_kits_cpu/checkpoints/last.pt
KITS_MODELS ?= idm-44-train-kits idm-44-train-kits+gt-onsets idm-44-train-kits+gt-one-shots $(wildcard $(KITS_TRAINED)) \
	nmfd-1a nmfd-1b nmfd-2 nmfd-3 nmfd-4 larsnet oracle-irm
kits-train: venv
	$(KITS_SET)
	$(MAKE) train CONFIG=configs/idm_kits_cpu.yaml NPROC=$(NPROC) ARGS="data.folder=$(KITS)/data $(ARGS)"
kits-results: venv
	$(KITS_SET)
	$(MAKE) eval DATA="$(KITS)/data" SPLIT=test_test_kits OUT=results/kits MODELS="$(KITS_MODELS)"

# idm-44-recorded-kits: the released model's transcription trained on crops mixed on the fly from the
# recorded training kits (configs/transcriber_kits.yaml) in TRANSCRIBER_CYCLES cosine cycles, each after
# the first starting from the one before's model (its teacher) with new crops (seeds TRANSCRIBER_SEED,
# +1, ...); then the last one's weights alone, with onset thresholds per class chosen on the validation
# split -> TRANSCRIBER_MODEL. Run again after an interruption, it goes on where it stopped: a cycle whose
# model TRANSCRIBER_RUN/cycle<N>.pt exists is skipped, one with checkpoints is resumed
BANK ?= datasets/transcriber_bank
TRANSCRIBER_RUN ?= runs/transcriber_kits
TRANSCRIBER_MODEL ?= $(TRANSCRIBER_RUN)/idm-44-recorded-kits.pt
TRANSCRIBER_TRAIN = $(MAKE) train CONFIG=configs/transcriber_kits.yaml NPROC=$(NPROC)
BANK_LISTS ?= configs/recorded_kits.yaml configs/extra_training_kits.yaml
TRANSCRIBER_CYCLES ?= 2
TRANSCRIBER_SEED ?= 1964
transcriber-bank: $(BANK)/bank.txt
$(BANK)/bank.txt: $(BANK_LISTS) | venv
	$(BIN)/python -m data.kit_bank "$(BANK)" --kits $(BANK_LISTS) && touch "$@"
transcriber: transcriber-bank
	$(KITS_SET)
	init=; for c in $$(seq $(TRANSCRIBER_CYCLES)); do \
		if test -f "$(TRANSCRIBER_RUN)/cycle$$c.pt"; then echo "cycle $$c: done before, $(TRANSCRIBER_RUN)/cycle$$c.pt"; \
		else $(TRANSCRIBER_TRAIN) ARGS="data.folder=$(KITS)/data mix.bank=$(BANK) log.out=$(TRANSCRIBER_RUN)/cycle$$c \
			$$init train.seed=$$(($(TRANSCRIBER_SEED) + c - 1)) $(ARGS) --resume auto" && \
		$(BIN)/python -m trainer.export "$(TRANSCRIBER_RUN)/cycle$$c/checkpoints/best.pt" \
			"$(TRANSCRIBER_RUN)/cycle$$c.pt" || exit 1; fi; \
		init="train.init=$(TRANSCRIBER_RUN)/cycle$$c.pt"; \
	done
	cp "$(TRANSCRIBER_RUN)/cycle$(TRANSCRIBER_CYCLES).pt" "$(TRANSCRIBER_MODEL)"
	$(BIN)/python -m trainer.thresholds "$(TRANSCRIBER_MODEL)" --data "$(KITS)/data" --mid-tom-gap

# a training recipe judged on a kit it never hears: one cycle of configs/transcriber_kits.yaml with
# HOLDOUT_KIT left out of the bank and validated on (every item of it outside the test splits), then its
# thresholds and pooled onset F per class on those items -> HOLDOUT_RUN.pt and HOLDOUT_RUN.txt
# e.g. make transcriber-holdout NAME=tom_pitch5 ARGS="mix.tom_pitch=5"
HOLDOUT_KIT ?= forzee_stereo
HOLDOUT_SPLITS ?= train_train_kits val_train_kits
HOLDOUT_STEPS ?= 1000
NAME ?= baseline
HOLDOUT_ROOT ?= runs/holdout
HOLDOUT_RUN ?= $(HOLDOUT_ROOT)/$(NAME)
transcriber-holdout: transcriber-bank
	$(KITS_SET)
	$(TRANSCRIBER_TRAIN) ARGS="data.folder=$(KITS)/data mix.bank=$(BANK) log.out=$(HOLDOUT_RUN) \
		mix.hold_out=[$(HOLDOUT_KIT)] data.val_kits=[$(HOLDOUT_KIT)] data.val_split=$(firstword $(HOLDOUT_SPLITS)) \
		train.steps=$(HOLDOUT_STEPS) $(ARGS)"
	$(BIN)/python -m trainer.export "$(HOLDOUT_RUN)/checkpoints/best.pt" "$(HOLDOUT_RUN).pt"
	$(BIN)/python -m trainer.thresholds "$(HOLDOUT_RUN).pt" --data "$(KITS)/data" --split $(HOLDOUT_SPLITS) \
		--kits $(HOLDOUT_KIT) > "$(HOLDOUT_RUN).txt" && cat "$(HOLDOUT_RUN).txt"
	$(MAKE) transcriber-holdout-separation ARGS=

# masked SI-SDR of held-out models on HOLDOUT_KIT's items with stems (its val_train_kits performances),
# beside HOLDOUT_BASELINE -> HOLDOUT_ROOT/separation/summary.md (cached there: each model is scored once)
HOLDOUT_BASELINE ?= $(HOLDOUT_ROOT)/baseline.pt
HOLDOUT_MODELS ?= $(HOLDOUT_RUN).pt
transcriber-holdout-separation: venv
	$(KITS_SET)
	$(MAKE) eval DATA="$(KITS)/data" SPLIT=val_train_kits OUT="$(HOLDOUT_ROOT)/separation" \
		MODELS="$(sort $(wildcard $(HOLDOUT_BASELINE)) $(HOLDOUT_MODELS))" ARGS="--kits $(HOLDOUT_KIT) $(ARGS)"

# the README's transcription table: released against idm-44-recorded-kits on the test kits as recorded
# (with the true onsets too), in a room and bus-compressed -> results/transcriber/<condition>
TRANSCRIBER_MODELS ?= idm-44-train-kits idm-44-recorded-kits
transcriber-results: venv
	$(KITS_SET)
	$(MAKE) eval DATA="$(KITS)/data" SPLIT=test_test_kits OUT=results/transcriber/clean \
		MODELS="$(TRANSCRIBER_MODELS) $(addsuffix +gt-onsets,$(TRANSCRIBER_MODELS))" ARGS="$(ARGS)"
	for c in room compressed; do \
		$(MAKE) eval DATA="$(KITS)/data" SPLIT=test_test_kits OUT=results/transcriber/$$c MODELS="$(TRANSCRIBER_MODELS)" \
			ARGS="--condition $$c $(ARGS)" || exit 1; \
	done

# the README's adaptation table: the released model fine-tuned to the two test kits (make finetune), then
# scored with the one-shot variants on the test kits' held-out performances -> results/kits_adaptation
ADAPTED ?= runs/finetune_kits/checkpoints/last.pt
ADAPT_MODELS ?= idm-44-train-kits idm-44-train-kits+gt-one-shots idm-44-train-kits+gt-onsets \
	idm-44-train-kits+gt-onsets+gt-one-shots $(ADAPTED) $(ADAPTED)+gt-kit oracle-irm
kits-adaptation: venv
	$(KITS_SET)
	test -f "$(ADAPTED)" || $(MAKE) finetune
	$(MAKE) eval DATA="$(KITS)/data" SPLIT=test_test_kits OUT=results/kits_adaptation MODELS="$(ADAPT_MODELS)"

# a small set of recorded kits, preprocessed into demo/data
demo-data:
	$(MAKE) kits-data OUT=demo PERFORMANCES=12 PERFORMANCE_SECONDS=8 ADAPT_PERFORMANCES=4

# e.g. make train CONFIG=configs/tiny.yaml NPROC=2 ARGS="train.steps=100 log.out=runs/try"
#      make train ARGS=--resume             (continue the run in the config's log.out)
#      multi-node: make train NPROC=8 NNODES=2 RDZV=host0:29500 on every node
train: venv
	@test "$(NNODES)" = 1 -o -n "$(RDZV)" || { echo "multi-node training needs RDZV=host:port (the rendezvous endpoint)"; exit 2; }
	$(BIN)/torchrun $(TORCHRUN_NODES) --nproc-per-node=$(NPROC) -m trainer.train --config $(CONFIG) $(ARGS)

# fine-tuning a trained model to new kits (configs/finetune_kits.yaml: the released model to the
# recorded test kits); the same variables as train
FINETUNE_CONFIG ?= configs/finetune_kits.yaml
finetune: venv
	$(MAKE) train CONFIG=$(FINETUNE_CONFIG) NPROC=$(NPROC) ARGS="$(ARGS)"

# NMFD one-shot templates of every kit of SPLIT, averaged from its stems around the onsets, into
# DATA/nmfd_templates.pt (where `make eval` looks); ARGS="--one-shots DIR" for isolated hits instead
nmfd-templates: venv
	@test -n "$(DATA)" || { echo "usage: make nmfd-templates DATA=<preprocessed dir> [SPLIT=$(SPLIT)]"; exit 2; }
	$(BIN)/python -m baselines.nmf.templates "$(DATA)/nmfd_templates.pt" $(if $(findstring --one-shots,$(ARGS)),,--data "$(DATA)" --split $(SPLIT)) $(ARGS)

# e.g. make eval DATA=data/stemgmd OUT=results MODELS="idm-44-train-kits nmfd-1a nmfd-4 larsnet oracle-irm"
eval: venv
	@test -n "$(DATA)" -a -n "$(OUT)" || { echo "usage: make eval DATA=<preprocessed dir or track folders> OUT=<dir> [SPLIT=$(SPLIT)] [MODELS=\"$(MODELS)\"] [JOBS=$(JOBS)]"; exit 2; }
	$(BIN)/python -m evaluation.run "$(DATA)" --split $(SPLIT) --models $(MODELS) --out "$(OUT)" -j $(JOBS) $(ARGS)

test: venv
	$(BIN)/python -m pytest tests

# every GPU path of the trainer and the separator in one call (benchmarks/device_check.py); on the CPU
# (DEVICE=cpu, the default without a GPU) each check runs small and GPU-only ones are skipped.
# For a lent GPU machine without network: bash benchmarks/device_check.sh prepares, then prints the command
DEVICE ?= auto
device-check: venv
	$(BIN)/python benchmarks/device_check.py --device $(DEVICE) --out $(if $(OUT),$(OUT),results/device_check)

bench: venv
	$(BIN)/python benchmarks/separate_speed.py
	$(BIN)/python benchmarks/long_input.py
	$(BIN)/python benchmarks/loader_speed.py
	$(BIN)/python benchmarks/train_speed.py
	$(BIN)/python benchmarks/train_paths.py
	$(BIN)/python benchmarks/transcription_cost.py
	$(BIN)/python benchmarks/baselines_speed.py

clean:
	rm -rf demo build *.egg-info .pytest_cache
