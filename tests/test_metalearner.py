"""MetaLearner on a synthetic family of related tasks (fast, no real data)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from scipy.stats import spearmanr
from sklearn.exceptions import NotFittedError
from synthetic import FAMILIES, TASK, auc_at, configs, new_task, synthetic_kb, two_sample_sizes_kb

from automl_meta.exceptions import (
    DataValidationError,
    KnowledgeBaseError,
    UnknownFamilyError,
)
from automl_meta.metadataset.knowledge_base import KnowledgeBase
from automl_meta.metalearner import MetaLearner, _training
from automl_meta.metalearner._network import forward

HELD_OUT = [(1.2, -0.8), (-1.0, 1.1), (0.3, 0.9), (-0.5, -1.3)]


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return synthetic_kb()


@pytest.fixture(scope="module")
def trained(kb) -> MetaLearner:
    return MetaLearner("reptile", steps=60, n_members=3, hidden_size=32, seed=0,
                       device="cpu").fit(kb)


def _zero_shot_spearman(learner: MetaLearner) -> float:
    values = []
    for latent in HELD_OUT:
        features, families, params, aucs = new_task(latent)
        mean, _ = learner.predict(features, families, params, task=TASK)
        values.append(spearmanr(mean, aucs).statistic)
    return float(np.mean(values))


def test_meta_training_beats_untrained_at_zero_shot_ranking(kb, trained):
    untrained = MetaLearner(steps=0, n_members=3, hidden_size=32, device="cpu").fit(kb)
    assert _zero_shot_spearman(trained) > 0.6
    assert _zero_shot_spearman(trained) > _zero_shot_spearman(untrained) + 0.3


@pytest.mark.parametrize("method", ["joint", "maml"])
def test_other_methods_learn(kb, method):
    steps = {"joint": 300, "maml": 60}[method]
    learner = MetaLearner(method, steps=steps, n_members=2, hidden_size=32, seed=1,
                          device="cpu").fit(kb)
    assert _zero_shot_spearman(learner) > 0.5


def test_predictions_follow_the_sample_size_when_trained_on_two(tmp_path):
    kb = two_sample_sizes_kb()
    learner = MetaLearner("joint", steps=1000, n_members=2, hidden_size=32, seed=0,
                          device="cpu").fit(kb)
    assert learner.fidelity_["max_rows"] == 8000 and learner.feature_names_[-1] == "log_rows"
    assert learner.training_datasets_ == sorted(kb.datasets["name"])
    designs = configs()
    units = [u for f in FAMILIES for _, u in designs[f]]
    matched, gain, default = [], [], []
    for latent in HELD_OUT:
        features, families, params, _ = new_task(latent)
        features["n_instances"] = 20000.0
        at = {rows: learner.predict(features, families, params, task=TASK, rows=rows)[0]
              for rows in (1000, 8000)}
        for rows, other in ((1000, 8000), (8000, 1000)):
            truth = [auc_at(np.asarray(latent), f, u, rows)
                     for f, u in zip(families, units, strict=True)]
            matched.append(spearmanr(at[rows], truth).statistic)
            gain.append(matched[-1] - spearmanr(at[other], truth).statistic)
        # No rows: all of the dataset's 20,000, predicted as the largest sample seen.
        default.append(np.allclose(learner.predict(features, families, params, task=TASK)[0],
                                   at[8000]))
    assert np.mean(matched) > 0.9 and np.mean(gain) > 0.2 and all(default)
    loaded = MetaLearner.load(learner.save(tmp_path / "learner"))
    assert loaded.fidelity_ == learner.fidelity_
    np.testing.assert_allclose(loaded.predict(features, families, params, task=TASK, rows=1000)[0],
                               at[1000], rtol=1e-6)
    with pytest.raises(DataValidationError, match="n_instances"):
        learner.predict(features.drop("n_instances"), families, params, task=TASK)
    with pytest.raises(DataValidationError, match="rows"):
        learner.predict(features, families, params, task=TASK, rows=0)


def test_one_sample_size_per_dataset_leaves_rows_out(trained):
    assert trained.fidelity_ is None and "log_rows" not in trained.feature_names_
    features, families, params, _ = new_task((0.3, 0.9))
    np.testing.assert_array_equal(
        trained.predict(features, families, params, task=TASK, rows=10)[0],
        trained.predict(features, families, params, task=TASK)[0])


def test_predict_returns_mean_and_positive_std(trained):
    features, families, params, _ = new_task((0.0, 0.0))
    mean, std = trained.predict(features, families, params, task=TASK)
    assert mean.shape == std.shape == (len(params),)
    assert (std > 0).all()
    embedding = trained.normalizer_.transform(features)
    again, _ = trained.predict(embedding, families, params, task=TASK)
    np.testing.assert_allclose(mean, again)


def test_adapt_reduces_ranking_error_on_the_task(trained):
    # A task that contradicts its meta-features (they describe the opposite latent
    # vector): zero-shot ranks it backwards, a few observed trials must fix that.
    features, families, params, _ = new_task((1.5, -1.5))
    aucs = new_task((-1.5, 1.5))[3]
    observed = np.random.default_rng(0).choice(len(params), size=16, replace=False)
    unseen = np.setdiff1d(np.arange(len(params)), observed)
    trials = [(families[i], params[i], aucs[i]) for i in observed]
    before, _ = trained.predict(features, families, params, task=TASK)
    after, _ = trained.adapt(features, trials, task=TASK).predict(features, families, params,
                                                                   task=TASK)
    assert spearmanr(before[unseen], aucs[unseen]).statistic < 0
    assert spearmanr(after[unseen], aucs[unseen]).statistic > 0.5
    # adapt returns a copy: the meta-learned weights are untouched
    np.testing.assert_array_equal(trained.predict(features, families, params, task=TASK)[0],
                                  before)


def test_adapt_beyond_max_trials_fits_random_subsets(trained, monkeypatch):
    # 144 trials (each configuration three times, the scores slightly noisy): more than
    # MAX_TRIALS, so every step fits a random subset of them, and still learns the order.
    features, families, params, _ = new_task((1.5, -1.5))
    aucs = new_task((-1.5, 1.5))[3]
    noise = np.random.default_rng(0).normal(0, 0.002, size=(3, len(params)))
    trials = [(families[i], params[i], aucs[i] + noise[r, i])
              for r in range(3) for i in range(len(params))]
    fitted = []
    full_loss = _training.ranking_loss
    monkeypatch.setattr(_training, "ranking_loss", lambda predictions, losses: (
        fitted.append(losses) or full_loss(predictions, losses)))
    after = trained.adapt(features, trials, task=TASK).predict(features, families, params,
                                                                task=TASK)[0]
    assert [len(losses) for losses in fitted] == [_training.MAX_TRIALS] * trained.adapt_steps
    assert not torch.equal(fitted[0], fitted[1])  # a new subset at each step
    assert spearmanr(trained.predict(features, families, params, task=TASK)[0],
                     aucs).statistic < 0
    assert spearmanr(after, aucs).statistic > 0.5
    # seeded by the trials: the same trials adapt the same way
    np.testing.assert_array_equal(
        trained.adapt(features, trials, task=TASK).predict(features, families, params,
                                                           task=TASK)[0], after)


def test_maml_differentiates_through_the_adaptation_steps(trained):
    # MAML's meta-gradient is second order: the gradient of the loss after adaptation
    # with respect to the weights before it matches finite differences only when the
    # adaptation's own gradients are differentiated too.
    params = {k: v.double().requires_grad_(True) for k, v in trained.params_.items()}
    name = "family"  # the family embeddings: small, and below the hidden layers
    arch = trained.architecture_
    g = torch.Generator().manual_seed(0)
    embedding = torch.randn(arch.embedding_size, generator=g, dtype=torch.float64)
    family = torch.randint(0, arch.n_families, (6,), generator=g)
    hyperparameters = torch.rand(6, arch.slot_width, generator=g, dtype=torch.float64)
    losses = torch.rand(6, generator=g, dtype=torch.float64)

    def outer(weight):
        adapted = _training.adapt({**params, name: weight}, embedding, family[:4],
                                  hyperparameters[:4], losses[:4], steps=2, lr=0.3)
        return forward(adapted, embedding, family[4:], hyperparameters[4:]).square().sum()

    assert torch.autograd.gradcheck(outer, (params[name],))
    # Weights that need no gradient (a fit's adaptation) take plain autograd instead of
    # torch.func: the same adapted weights, and plain tensors.
    meta = _training.adapt(params, embedding, family, hyperparameters, losses, 2, 0.3)
    plain = _training.adapt({k: v.detach() for k, v in params.items()}, embedding, family,
                            hyperparameters, losses, 2, 0.3)
    assert not any(v.requires_grad for v in plain.values())
    for k, v in meta.items():
        torch.testing.assert_close(plain[k], v.detach(), rtol=0, atol=0)


def test_adapt_with_one_trial_is_zero_shot(trained):
    features, families, params, aucs = new_task((0.5, 0.5))
    adapted = trained.adapt(features, [(families[0], params[0], aucs[0])], task=TASK)
    np.testing.assert_array_equal(adapted.predict(features, families, params, task=TASK)[0],
                                  trained.predict(features, families, params, task=TASK)[0])


def test_save_load_round_trip_without_pickle(trained, tmp_path):
    folder = trained.save(tmp_path / "learner")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "weights.safetensors"]
    tensors = load_file(folder / "weights.safetensors")
    assert all(isinstance(v, torch.Tensor) for v in tensors.values())
    config = json.loads((folder / "config.json").read_text())
    assert config["families"] == trained.families_
    assert "torch" in config["versions"]
    loaded = MetaLearner.load(folder)
    features, families, params, _ = new_task((0.2, -0.4))
    for a, b in zip(trained.predict(features, families, params, task=TASK),
                    loaded.predict(features, families, params, task=TASK), strict=True):
        np.testing.assert_array_equal(a, b)


def test_load_rejects_a_corrupt_folder(tmp_path):
    with pytest.raises(KnowledgeBaseError, match="config"):
        MetaLearner.load(tmp_path)
    (tmp_path / "config.json").write_text('{"format": "something else"}')
    with pytest.raises(KnowledgeBaseError, match="not a saved MetaLearner"):
        MetaLearner.load(tmp_path)


def test_same_seed_same_weights_other_seed_other_weights(kb):
    def fit(seed):
        return MetaLearner("maml", steps=3, n_members=2, hidden_size=16, seed=seed,
                           device="cpu").fit(kb).params_

    first, second, other = fit(3), fit(3), fit(4)
    for name in first:
        torch.testing.assert_close(first[name], second[name], rtol=0, atol=0)
    assert not torch.equal(first["hidden1.weight"], other["hidden1.weight"])


def test_bad_input_fails_clearly(kb, trained):
    empty = KnowledgeBase(kb.datasets.iloc[:0], kb.metafeatures.iloc[:0],
                          kb.configurations.iloc[:0], kb.evaluations.iloc[:0])
    with pytest.raises(KnowledgeBaseError, match="nothing to learn"):
        MetaLearner(steps=1).fit(empty)
    with pytest.raises(DataValidationError, match="method"):
        MetaLearner("bayes", steps=1).fit(kb)
    with pytest.raises(NotFittedError):
        MetaLearner().predict(np.zeros(3), "knn", [{}], task=TASK)
    features, families, params, _ = new_task((0.0, 0.0))
    with pytest.raises(UnknownFamilyError, match="catboost"):
        trained.predict(features, "catboost", [{}], task=TASK)
    with pytest.raises(DataValidationError, match="vector of"):
        trained.predict(np.zeros(3), families, params, task=TASK)
    with pytest.raises(DataValidationError, match="task"):
        trained.predict(features, families, params, task="ranking")
    with pytest.raises(DataValidationError, match="at least one"):
        trained.adapt(features, [], task=TASK)


def test_train_progress_bar_redraws_rarely_outside_a_terminal(kb, tmp_path, capsys):
    # Captured stderr is not a terminal: a redraw per step would fill a log file.
    import argparse

    from automl_meta.cli import _train

    kb.save(tmp_path / "kb")
    parser = argparse.ArgumentParser(prog="automl-meta")
    _train.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "--knowledge-base", str(tmp_path / "kb"), "--steps",
                              "100", "--members", "2", "--out", str(tmp_path / "learner")])
    assert _train.run(args) == 0
    err = capsys.readouterr().err
    assert "100/100" in err  # the final state is drawn
    assert 1 <= err.count("meta-training") <= 3


def test_train_command_writes_a_loadable_learner(kb, tmp_path, capsys):
    import argparse

    from automl_meta.cli import _train

    kb.save(tmp_path / "kb")
    parser = argparse.ArgumentParser(prog="automl-meta")
    _train.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "--knowledge-base", str(tmp_path / "kb"), "--method",
                              "joint", "--steps", "5", "--members", "2", "--device", "cpu",
                              "--out", str(tmp_path / "learner"), "--quiet"])
    assert _train.run(args) == 0
    assert "trained on 40 datasets" in capsys.readouterr().out
    assert MetaLearner.load(tmp_path / "learner").n_members == 2
    missing = parser.parse_args(["train", "--store", str(tmp_path / "none.sqlite"),
                                 "--out", str(tmp_path / "x")])
    with pytest.raises(KnowledgeBaseError, match="no store"):
        _train.run(missing)
    assert not (tmp_path / "none.sqlite").exists()


def test_a_fits_adaptation_does_not_import_torch_dynamo():
    # torch.func's first call imports torch._dynamo, 1.5 s of a fit's budget in a fresh
    # process (benchmarks/results/first_fit.md); the adaptation at fit time avoids it.
    code = """
import sys, torch
from automl_meta.metalearner import _training
from automl_meta.recommendation import shipped_learner
learner = shipped_learner()
arch = learner.architecture_
adapted = _training.adapt(learner.params_, torch.zeros(arch.embedding_size),
                          torch.tensor([0, 1, 0]), torch.rand(3, arch.slot_width),
                          torch.tensor([0.3, 0.1, 0.2]), 5, 0.3)
assert not torch.equal(adapted["out.weight"], learner.params_["out.weight"])
print("torch._dynamo" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["False"]
