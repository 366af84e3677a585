"""`thresher distill` end to end: labelling, provenance, held-out metrics, round trip through the scorers, errors."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

import thresher
from tests.conftest import EMBEDDER_TEXTS, write_jsonl
from thresher.cli import app
from thresher.data.fields import Fields
from thresher.data.readers import open_dataset
from thresher.distillation.labels import holdout_mask, label_by_column
from thresher.distillation.model_dir import STUDENT_FILE, load_student, write_student_dir
from thresher.distillation.students import FastTextStudent
from thresher.embeddings import cached_embeddings
from thresher.store import ScoreStore
from thresher.types import Direction

runner = CliRunner()
SMALL_FASTTEXT = {"bucket": 2000, "threads": 1, "epochs": 10}


def invoke(*args: object):
    return runner.invoke(app, [str(arg) for arg in args])


def texts_of_two_kinds(n: int, seed: int = 0) -> list[str]:
    """Sentences of repeated dictionary words, and every fifth a line of random characters (which zlib compresses
    badly: a high zlib_ratio)."""
    rng = np.random.default_rng(seed)
    words = sorted({word for text in EMBEDDER_TEXTS for word in text.split()})
    alphabet = list("abcdefghijklmnopqrstuvwxyz0123456789#%&")
    texts = []
    for i in range(n):
        if i % 5 == 0:
            texts.append("".join(rng.choice(alphabet, size=int(rng.integers(30, 80)))))
        else:
            line = " ".join(rng.choice(words, size=int(rng.integers(6, 16))))
            texts.append(line if i % 7 else line.replace(" ", "\n", 2))  # some texts span lines
    return texts


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> tuple[Path, Path]:
    """A corpus of 400 texts and its score directory with the compression scorer (the teacher)."""
    directory = tmp_path_factory.mktemp("distill")
    data = write_jsonl(directory / "data.jsonl", [{"text": text} for text in texts_of_two_kinds(400)])
    thresher.score(data, scorers=["compression"], out=directory / "scores")
    return data, directory / "scores"


def teacher_values(scores: Path, column: str = "zlib_ratio") -> np.ndarray:
    return ScoreStore.open(scores).read_columns([column], with_id=False).column(column).to_numpy()


def example_ids(data: Path, text_field: str = "text") -> list[str]:
    dataset = open_dataset(data, Fields(text=text_field))
    return [str(value) for batch in dataset.iter_examples() for value in batch.column("id").to_pylist()]


def example_texts(data: Path) -> list[str]:
    dataset = open_dataset(data, Fields())
    return [text for batch in dataset.iter_examples() for text in batch.column("text").to_pylist()]


def test_the_column_form_labels_trains_and_records_provenance_and_metrics(scored, tmp_path):
    data, scores = scored
    out = tmp_path / "student"
    result = invoke(
        "distill", data, "--scores", scores, "--by", "zlib_ratio", "--positive-end", "bottom", "--out", out,
        "--positive-fraction", "0.2", "--negative-fraction", "0.3", "--holdout", "0.25", "--seed", "3", "--quiet",
        *[f"-p{name}={value}" for name, value in SMALL_FASTTEXT.items()],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "held out: ROC-AUC" in " ".join(result.output.split())
    record = json.loads((out / STUDENT_FILE).read_text())
    assert sorted(path.name for path in out.iterdir()) == ["model.bin", STUDENT_FILE]

    # Labels: the 20 % lowest zlib_ratio positive (bottom of a higher-is-more-important column), the 30 % highest
    # negative; held out by the seeded id hash.
    values = teacher_values(scores)
    labels = label_by_column(values, Direction.HIGHER, positive_fraction=0.2, negative_fraction=0.3,
                             positive_end="bottom")  # fmt: skip
    assert values[labels.positive_rows].max() < values[labels.negative_rows].min()
    held = holdout_mask(example_ids(data), 0.25, seed=3)
    positive = np.zeros(len(values), dtype=bool)
    positive[labels.positive_rows] = True
    negative = np.zeros(len(values), dtype=bool)
    negative[labels.negative_rows] = True
    assert record["data"]["positives"] == 80 and record["data"]["negatives"] == 120
    assert record["data"]["unlabelled"] == 200
    assert record["data"]["train"] == {
        "positives": int((positive & ~held).sum()),
        "negatives": int((negative & ~held).sum()),
    }
    heldout = {"examples": held.sum(), "positives": (positive & held).sum(), "negatives": (negative & held).sum()}
    assert record["data"]["heldout"] == {key: int(value) for key, value in heldout.items()}

    # Provenance: the teacher column, its direction and the score directory's manifest as it was.
    teacher = record["teacher"]
    assert teacher["column"] == "zlib_ratio" and teacher["scorer"] == "compression"
    assert teacher["direction"] == "higher_is_more_important" and teacher["positive_end"] == "bottom"
    manifest_bytes = (scores / "manifest.json").read_bytes()
    assert teacher["manifest_blake2b"] == hashlib.blake2b(manifest_bytes, digest_size=16).hexdigest()
    assert teacher["scorer_fingerprint"] == json.loads(manifest_bytes)["scorers"]["compression"]["fingerprint"]
    assert record["input"] == open_dataset(data, Fields()).fingerprint()
    assert record["params"] == {**FastTextStudent().params_record(), **SMALL_FASTTEXT, "seed": 3}
    assert record["thresher_version"] == thresher.__version__ and "fasttext-numpy2" in record["packages"]
    assert record["files"]["model.bin"]["bytes"] == (out / "model.bin").stat().st_size
    assert record["text"]["lowercase"] is False

    # Metrics: recomputed with scikit-learn and scipy from the saved student's predictions on the held-out rows.
    student = load_student(out)
    texts = example_texts(data)
    held_rows = np.flatnonzero(held)
    predictions = student.model.predict([texts[row] for row in held_rows])
    labelled = (positive | negative)[held_rows]
    expected_auc = roc_auc_score(positive[held_rows][labelled], predictions[labelled])
    assert record["metrics"]["heldout_roc_auc"] == pytest.approx(expected_auc, abs=1e-6)
    # Spearman with the teacher oriented towards the positives (low zlib_ratio), over every held-out example.
    expected_spearman = spearmanr(predictions, -values[held_rows]).statistic
    assert record["metrics"]["heldout_spearman"] == pytest.approx(expected_spearman, abs=1e-6)
    assert record["metrics"]["heldout_roc_auc"] > 0.9  # random characters vs words: an easy split
    assert record["metrics"]["examples_per_second"] > 0

    # The record repeats the run: its settings are a settings file for `thresher distill`.
    printed = invoke("distill", "--config", out / STUDENT_FILE, "--print-config")
    assert printed.exit_code == 0, printed.output
    settings = yaml.safe_load(printed.output)["distill"]
    assert settings["by"] == "zlib_ratio" and settings["positive_end"] == "bottom" and settings["holdout"] == 0.25
    assert settings["params"]["fasttext"]["bucket"] == 2000


def test_train_save_score_round_trip_is_bit_identical(scored, tmp_path):
    data, scores = scored
    texts = example_texts(data)
    labels = np.arange(len(texts)) % 3 == 0
    model = FastTextStudent(**SMALL_FASTTEXT).fit(texts, labels)
    in_memory = model.predict(texts)
    out = tmp_path / "student"
    write_student_dir(out, model, {"student": "fasttext", "params": FastTextStudent(**SMALL_FASTTEXT).params_record()})

    reloaded = load_student(out).model.predict(texts)
    assert np.array_equal(reloaded, in_memory)
    score_dir = tmp_path / "scores"
    thresher.score(data, scorers=["fasttext"], model=str(out), out=score_dir, shard_rows=150)
    column = ScoreStore.open(score_dir).read_columns(["fasttext_score"]).column("fasttext_score").to_numpy()
    assert np.array_equal(column, in_memory)
    assert ((column >= 0.0) & (column <= 1.0)).all()


def test_one_thread_training_is_deterministic_under_its_seed(scored):
    data, _ = scored
    texts = example_texts(data)
    labels = np.arange(len(texts)) % 4 == 0
    first = FastTextStudent(**SMALL_FASTTEXT, seed=5).fit(texts, labels).predict(texts)
    again = FastTextStudent(**SMALL_FASTTEXT, seed=5).fit(texts, labels).predict(texts)
    other = FastTextStudent(**SMALL_FASTTEXT, seed=6).fit(texts, labels).predict(texts)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_the_scorer_normalises_texts_as_the_trainer_did(scored, tmp_path):
    data, _ = scored
    texts = example_texts(data)
    model = FastTextStudent(**SMALL_FASTTEXT, lowercase=True).fit(texts, np.arange(len(texts)) % 2 == 0)
    raw = ["Two\nLINES\tof  text", "two lines of text", "  TWO LINES   OF TEXT\r\n"]
    scores = model.predict(raw)
    assert scores[0] == scores[1] == scores[2]
    # fastText itself on the normalised line gives the same probability.
    labels, probabilities = model.model.predict(["two lines of text"], k=-1)
    by_label = dict(zip(labels[0], probabilities[0].astype(np.float64), strict=True))
    expected = by_label["__label__positive"] / (by_label["__label__positive"] + by_label["__label__negative"])
    assert scores[0] == expected


def test_the_file_form_learns_positive_vs_negative_files(tmp_path):
    texts = texts_of_two_kinds(300, seed=1)
    words = [text for i, text in enumerate(texts) if i % 5]
    junk = [text for i, text in enumerate(texts) if i % 5 == 0]
    positive = write_jsonl(tmp_path / "good.jsonl", [{"body": text} for text in words])
    negative = write_jsonl(tmp_path / "junk.jsonl", [{"body": text} for text in junk])
    out = tmp_path / "student"
    result = thresher.distill(
        positive=positive, negative=negative, out=out, text_field="body", holdout=0.3, params=SMALL_FASTTEXT
    )
    record = result.record
    assert record["teacher"]["form"] == "files"
    assert record["teacher"]["positive"] == open_dataset(positive, Fields(text="body")).fingerprint()
    assert record["teacher"]["negative"] == open_dataset(negative, Fields(text="body")).fingerprint()
    assert record["data"]["positives"] == len(words) and record["data"]["negatives"] == len(junk)
    assert record["metrics"]["heldout_spearman"] is None
    # The held-out rows are the concatenation's rows (positives first) whose side-salted id hash falls below 0.3.
    held = np.concatenate(
        [
            holdout_mask(example_ids(positive, "body"), 0.3, 0, salt="positive"),
            holdout_mask(example_ids(negative, "body"), 0.3, 0, salt="negative"),
        ]
    )
    assert np.array_equal(result.heldout_rows, np.flatnonzero(held))
    truth = np.concatenate([np.ones(len(words), bool), np.zeros(len(junk), bool)])[result.heldout_rows]
    assert record["metrics"]["heldout_roc_auc"] == pytest.approx(roc_auc_score(truth, result.heldout_predictions))
    assert record["metrics"]["heldout_roc_auc"] > 0.9


def test_the_head_student_on_cached_embeddings_round_trips_through_its_scorer(scored, tmp_path, tiny_embedder_dir):
    data, scores = scored
    embedder = str(tiny_embedder_dir)
    thresher.embed(data, embedder=embedder, out=scores, device="cpu")
    out = tmp_path / "head"
    result = thresher.distill(
        data, scores=scores, by="zlib_ratio", out=out, student="head", embedder=embedder, device="cpu", holdout=0.2
    )
    record = result.record
    assert record["student"] == "head" and record["embedder"]["embedder"] == embedder
    assert sorted(path.name for path in out.iterdir()) == ["head.npz", STUDENT_FILE]

    # The head equals scikit-learn's logistic regression on the same cached vectors and labels.
    ids, vectors = cached_embeddings(scores, embedder, open_dataset(data, Fields()).iter_examples)
    values = teacher_values(scores)
    labels = label_by_column(values, Direction.HIGHER, positive_fraction=0.1)
    positive = np.zeros(len(values), dtype=bool)
    positive[labels.positive_rows] = True
    held = holdout_mask([str(value) for value in ids], 0.2, seed=0)
    reference = LogisticRegression(max_iter=1000).fit(np.asarray(vectors[~held], dtype=np.float64), positive[~held])
    head = load_student(out).model
    expected = reference.predict_proba(np.asarray(vectors, dtype=np.float64))[:, 1]
    np.testing.assert_allclose(head.predict_vectors(vectors), expected, rtol=1e-6, atol=1e-9)
    assert record["metrics"]["heldout_roc_auc"] == pytest.approx(
        roc_auc_score(positive[held], head.predict_vectors(vectors[held])), abs=1e-6
    )

    # Scored from the same score directory, the scorer reads the cached vectors: the in-memory head's values.
    thresher.score(data, scorers=["student-head"], model=str(out), out=scores, device="cpu")
    column = ScoreStore.open(scores).read_columns(["head_score"]).column("head_score").to_numpy()
    assert np.array_equal(column, head.predict_vectors(vectors))
    # Elsewhere (no cache) it embeds each batch itself: the same values up to float rounding.
    thresher.score(data, scorers=["student-head"], model=str(out), out=tmp_path / "fresh", device="cpu")
    fresh = ScoreStore.open(tmp_path / "fresh").read_columns(["head_score"]).column("head_score").to_numpy()
    np.testing.assert_allclose(fresh, column, atol=1e-5)


def assert_user_error(result, *needles):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    message = " ".join(result.output.split())
    assert message.startswith("error:"), message
    for needle in needles:
        assert needle in message, message


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--by", "no_such"], ["no score column 'no_such'", "zlib_ratio"]),
        (["--by", "zlib_ratio", "--positive-fraction", "1.5"], ["--positive-fraction must be between 0 and 1"]),
        (["--by", "zlib_ratio", "--negative-fraction", "0"], ["--negative-fraction must be between 0 and 1"]),
        (["--by", "zlib_ratio", "--positive-fraction", "0.001"], ["labels no example positive"]),
        (["--by", "zlib_ratio", "--positive-end", "middle"], ["--positive-end must be top or bottom"]),
        (["--by", "zlib_ratio", "--holdout", "1"], ["--holdout must be in [0, 1)"]),
        (
            ["--by", "zlib_ratio", "--embedder", "x"],
            ["none of the chosen components (fasttext) takes 'embedder'", "student head"],
        ),  # fmt: skip
        (["--by", "zlib_ratio", "-p", "dim=0"], ["dim must be at least 1"]),
        (["--by", "zlib_ratio", "--student", "svm"], ["unknown student 'svm'"]),
        (["--by", "fasttext_score", "--positive", "x.jsonl"], ["not both"]),
    ],
)
def test_bad_options_are_one_line_errors_and_write_no_model_dir(scored, tmp_path, args, needles):
    data, scores = scored
    out = tmp_path / "student"
    assert_user_error(invoke("distill", data, "--scores", scores, "--out", out, *args), *needles)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # nor a staging directory


def test_form_and_file_mistakes_are_one_line_errors(scored, tmp_path):
    data, scores = scored
    out = tmp_path / "student"
    assert_user_error(invoke("distill", data, "--out", out), "needs --scores, --by")
    assert_user_error(invoke("distill", "--positive", data, "--out", out), "needs both --positive FILE and --negative")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert_user_error(
        invoke("distill", "--positive", empty, "--negative", data, "--out", out), "no examples in the --positive file"
    )
    other = write_jsonl(tmp_path / "other.jsonl", [{"text": "not the scored input"}])
    assert_user_error(
        invoke("distill", other, "--scores", scores, "--by", "zlib_ratio", "--out", out), "does not match"
    )
    assert not out.exists()
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert_user_error(
        invoke("distill", data, "--scores", scores, "--by", "zlib_ratio", "--out", out), "exists and is not an empty"
    )
    assert (out / "keep.txt").read_text() == "mine"


def test_a_flag_column_is_refused_as_a_teacher(tmp_path):
    data = write_jsonl(tmp_path / "data.jsonl", [{"text": text} for text in texts_of_two_kinds(40)])
    thresher.score(data, scorers=["minhash"], out=tmp_path / "scores")
    result = invoke("distill", data, "--scores", tmp_path / "scores", "--by", "minhash_keep", "--out", tmp_path / "m")
    assert_user_error(result, "--by minhash_keep is a flag column")


def test_a_failure_while_writing_leaves_no_half_written_model_dir(scored, tmp_path, monkeypatch):
    data, scores = scored
    from thresher.distillation.students import FastTextModel

    def broken_save(self, directory):
        (directory / "model.bin").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(FastTextModel, "save", broken_save)
    out = tmp_path / "student"
    with pytest.raises(OSError, match="disk full"):
        thresher.distill(data, scores=scores, by="zlib_ratio", out=out, params=SMALL_FASTTEXT)
    assert list(tmp_path.iterdir()) == []


def test_the_fasttext_scorer_refuses_a_head_model_dir_and_a_plain_dir(tmp_path, tiny_head_student_dir):
    data = write_jsonl(tmp_path / "data.jsonl", [{"text": "the cat sat on the mat"}])
    result = invoke(
        "score", data, "--scorer", "fasttext", "--model", tiny_head_student_dir, "--out", tmp_path / "s", "--quiet"
    )
    assert_user_error(result, "a --student head model directory; score with --scorer student-head")
    result = invoke("score", data, "--scorer", "fasttext", "--model", tmp_path, "--out", tmp_path / "t", "--quiet")
    assert_user_error(result, "not a student model directory")


def test_a_distilled_score_column_reads_back_like_any_other(tiny_fasttext_student_dir, tmp_path):
    data = write_jsonl(tmp_path / "data.jsonl", [{"text": t} for t in ["the cat sat on the mat", "all that glitters"]])
    thresher.score(data, scorers=["fasttext"], model=str(tiny_fasttext_student_dir), out=tmp_path / "s")
    table = pq.read_table(tmp_path / "s" / "fasttext" / "part-00000.parquet")
    scores = table.column("fasttext_score").to_numpy()
    assert scores[0] > 0.5 > scores[1]  # an animal sentence (positive side) and a proverb (negative side)
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    provenance = manifest["scorers"]["fasttext"]["provenance"]
    assert provenance["fingerprint"] == load_student(tiny_fasttext_student_dir).fingerprint()
    assert provenance["teacher"]["form"] == "files" and provenance["student"] == "fasttext"


def test_fasttext_trains_from_zeroed_memory_however_small_the_model():
    # The fasttext-numpy2 wheel leaves most of a new input matrix uninitialised (see `zeroed_allocations`); a small
    # matrix (unigrams only: no hash buckets) then starts from heap leftovers. Trained five times in one process, it
    # must never diverge and always give the same model.
    texts = texts_of_two_kinds(200, seed=2)
    labels = np.arange(len(texts)) % 2 == 0
    runs = [FastTextStudent(word_ngrams=1, threads=1, epochs=5).fit(texts, labels).predict(texts) for _ in range(5)]
    assert all(np.array_equal(run, runs[0]) for run in runs[1:])
    assert np.isfinite(runs[0]).all()
