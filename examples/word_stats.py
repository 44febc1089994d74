"""A small text-statistics program with the classic performance mistakes, for pyrometer to find.

    pyrometer run examples/word_stats.py
    pyrometer run --mode trace --export stats.svg examples/word_stats.py

It builds a synthetic corpus, then reports the most common words, the words that appear in
every paragraph, and a "reading difficulty" score. Each step works, and each is slower than it
needs to be (see the comments marked SLOW, and `pyrometer check examples/`).
"""

import random
import sys

SYLLABLES = "ka lo mi ne ru sa ti vo bre dan gol hin jup kes lor mav nix pel quo rim sut".split()
COMMON = "the of and to in is it that for on with as was at by".split()


def make_vocabulary(rng: random.Random, size: int) -> list[str]:
    words = set(COMMON)
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3))))
    return sorted(words)


def make_corpus(paragraphs: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    vocabulary = make_vocabulary(rng, 3000)
    # Zipf-like: a few words are everywhere, most are rare.
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    text = ""
    for _ in range(paragraphs):
        for _ in range(rng.randint(3, 8)):
            words = rng.choices(vocabulary, weights, k=rng.randint(5, 15))
            text += " ".join(words).capitalize() + ". "  # SLOW: string += in a loop
        text += "\n\n"
    return text


def tokenize(paragraph: str) -> list[str]:
    tokens = []
    for raw in paragraph.split():
        word = raw.strip(".,").lower()
        if word:
            tokens.append(word)
    return tokens


def most_common(tokens: list[str], n: int) -> list[tuple[str, int]]:
    seen = []
    counts = []
    for word in tokens:
        if word in seen:  # SLOW: membership test on a list
            counts[seen.index(word)] += 1
        else:
            seen.append(word)
            counts.append(1)
    pairs = list(zip(seen, counts, strict=True))
    return sorted(pairs, key=lambda p: -p[1])[:n]


def in_every_paragraph(paragraphs: list[list[str]]) -> list[str]:
    common = []
    for word in paragraphs[0]:
        if all(word in p for p in paragraphs[1:]) and word not in common:  # SLOW: lists again
            common.append(word)
    return common


def syllables(word: str) -> int:
    count = sum(1 for a, b in zip(" " + word, word, strict=False) if b in "aeiouy" and a not in "aeiouy")
    return max(1, count)


def difficulty(tokens: list[str]) -> float:
    total = 0
    for word in tokens:
        total += syllables(word)  # recomputed for every occurrence of the same word
    return total / max(1, len(tokens))


def main() -> None:
    paragraphs_wanted = int(sys.argv[1]) if len(sys.argv) > 1 else 1500
    corpus = make_corpus(paragraphs_wanted)
    paragraphs = [tokenize(p) for p in corpus.split("\n\n") if p.strip()]
    tokens = [t for p in paragraphs for t in p]
    print(f"{len(paragraphs)} paragraphs, {len(tokens)} words")
    print("most common:", ", ".join(f"{w} ({c})" for w, c in most_common(tokens, 5)))
    print("in every paragraph:", ", ".join(in_every_paragraph(paragraphs)) or "none")
    print(f"difficulty: {difficulty(tokens):.2f} syllables per word")


if __name__ == "__main__":
    main()
