#!/usr/bin/env bash
# Multi-node PixelThink GRPO with verl 0.9.1 (Ray), using pixelthink's reward manager (no verl fork).
#
# 1. Environment on every node:  make venv-verl   (or: see requirements-verl.txt / docs/TRAINING.md)
# 2. Data (once, on shared storage):
#      .venv-verl/bin/pixelthink data verl BENCH_DIR data/verl/train.parquet --split train
# 3. Ray: head node `ray start --head --port=6379`; every other node `ray start --address=HEAD_IP:6379`.
# 4. On the head node:  NNODES=2 GPUS_PER_NODE=8 MODEL=/models/Qwen2.5-VL-7B-Instruct \
#        TRAIN=data/verl/train.parquet bash launch_grpo.sh [extra hydra overrides]
#
# Defaults are the authors' Qwen2.5-VL-7B recipe: 8 rollouts at temperature 1.0, batch 16 prompts,
# mini-batch 16, lr 1e-6, weight decay 1e-2, grad clip 1.0, KL loss low_var_kl 5e-3 (no KL in reward),
# max prompt/response 1300, one epoch, rollout tensor parallel 2. Every value can be overridden by an
# environment variable below or by hydra overrides appended on the command line.
set -euo pipefail

PY=${PY:-python3}
MODEL=${MODEL:?set MODEL to a local Qwen2.5-VL / Qwen3-VL checkpoint directory}
TRAIN=${TRAIN:?set TRAIN to the parquet written by pixelthink data verl}
VAL=${VAL:-$TRAIN}
NNODES=${NNODES:-1}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
ROLLOUT_N=${ROLLOUT_N:-8}
TEMPERATURE=${TEMPERATURE:-1.0}
BATCH=${BATCH:-16}
MINI_BATCH=${MINI_BATCH:-16}
LR=${LR:-1e-6}
WEIGHT_DECAY=${WEIGHT_DECAY:-1e-2}
GRAD_CLIP=${GRAD_CLIP:-1.0}
KL_COEF=${KL_COEF:-5e-3}
MAX_PROMPT=${MAX_PROMPT:-1300}
MAX_RESPONSE=${MAX_RESPONSE:-1300}
EPOCHS=${EPOCHS:-1}
ROLLOUT_TP=${ROLLOUT_TP:-2}
ROLLOUT_MEM=${ROLLOUT_MEM:-0.5}
SAVE_FREQ=${SAVE_FREQ:-50}
REWARD=${REWARD:-pixelthink}                       # a name of pixelthink.rewards.REWARDS (docs/METHODS.md)
REWARD_KWARGS=${REWARD_KWARGS:-}                   # "+reward.reward_kwargs.KEY=VALUE ..." (recipes/qwen25vl_7b_methods/verl/*.env)
U_FALLBACK=${U_FALLBACK:-sampled_logprob}          # sampled_logprob | zero | error (see reward_manager.py)
PROJECT=${PROJECT:-pixelthink}
EXPERIMENT=${EXPERIMENT:-pixelthink_$(date +%m%d_%H%M)}
OUT=${OUT:-checkpoints/$EXPERIMENT}

MANAGER=$($PY -c 'import pixelthink.integrations.verl.reward_manager as m; print(m.__file__)')

exec $PY -m verl.trainer.main_ppo \
    algorithm.adv_estimator=grpo \
    algorithm.use_kl_in_reward=False \
    data.train_files="$TRAIN" \
    data.val_files="$VAL" \
    data.image_key=images \
    data.train_batch_size="$BATCH" \
    data.max_prompt_length="$MAX_PROMPT" \
    data.max_response_length="$MAX_RESPONSE" \
    data.filter_overlong_prompts=True \
    data.truncation=error \
    actor_rollout_ref.model.path="$MODEL" \
    actor_rollout_ref.model.enable_gradient_checkpointing=True \
    actor_rollout_ref.actor.optim.lr="$LR" \
    actor_rollout_ref.actor.optim.weight_decay="$WEIGHT_DECAY" \
    actor_rollout_ref.actor.grad_clip="$GRAD_CLIP" \
    actor_rollout_ref.actor.ppo_mini_batch_size="$MINI_BATCH" \
    actor_rollout_ref.actor.use_kl_loss=True \
    actor_rollout_ref.actor.kl_loss_coef="$KL_COEF" \
    actor_rollout_ref.actor.kl_loss_type=low_var_kl \
    actor_rollout_ref.actor.entropy_coeff=0 \
    actor_rollout_ref.rollout.name=vllm \
    actor_rollout_ref.rollout.n="$ROLLOUT_N" \
    actor_rollout_ref.rollout.temperature="$TEMPERATURE" \
    actor_rollout_ref.rollout.tensor_model_parallel_size="$ROLLOUT_TP" \
    actor_rollout_ref.rollout.gpu_memory_utilization="$ROLLOUT_MEM" \
    actor_rollout_ref.rollout.calculate_log_probs=True \
    reward.reward_manager.source=importlib \
    reward.reward_manager.name=PixelThinkRewardManager \
    reward.reward_manager.module.path="$MANAGER" \
    +reward.reward_kwargs.reward_name="$REWARD" \
    +reward.reward_kwargs.uncertainty_fallback="$U_FALLBACK" \
    trainer.project_name="$PROJECT" \
    trainer.experiment_name="$EXPERIMENT" \
    trainer.default_local_dir="$OUT" \
    trainer.logger='["console"]' \
    trainer.nnodes="$NNODES" \
    trainer.n_gpus_per_node="$GPUS_PER_NODE" \
    trainer.total_epochs="$EPOCHS" \
    trainer.save_freq="$SAVE_FREQ" \
    trainer.test_freq=-1 \
    trainer.val_before_train=False \
    $REWARD_KWARGS \
    "$@"
