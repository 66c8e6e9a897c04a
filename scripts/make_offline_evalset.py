"""Write the offline question sets and the learner's training corpus from one table of facts.

The pipeline fixtures (`fixtures/pipeline/`) are evaluated with HELM's `custom_mcqa` scenario on small
question sets that need no download: simple world facts in three relation families (capitals, colours,
animal sounds), four options each. The same table gives the training corpus of the fixture entries
(`fixtures/pipeline/<track>/<user>/<repo>/train/corpus.txt`): plain sentences stating the facts, mixed
with distractor sentences. A few test facts are left out of the corpus on purpose, so a model that
learns from it is good but not perfect, and a model that did not learn scores at chance.

Written files:

- `fixtures/evalsets/offline/<family>.jsonl`: custom_mcqa instances, `train` (in-context examples) and
  `test` splits; the correct option's position is shuffled with a seed made from the instance id, so
  always answering "A" scores at chance;
- `fixtures/evalsets/offline/offline.conf`: the HELM run entries (HOCON), paths relative to its folder;
- `corpus.txt` in every `train/` folder under `fixtures/pipeline/` (the learner's, and the copies the
  broken entries keep so that each differs from the learner in one file only).

No library writes custom_mcqa files, so this is done by hand; the format is HELM's `Instance` as JSON.

Exit status: 0 written (or, with `--check`, already up to date), 1 `--check` found a file that differs
or is missing, 2 bad arguments.

Usage::

    python scripts/make_offline_evalset.py            # write the files
    python scripts/make_offline_evalset.py --check    # exit 1 when a committed file is stale
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
EVALSET_DIR = Path("fixtures/evalsets/offline")
PIPELINE_DIR = Path("fixtures/pipeline")
LEARNER_TRAIN_DIR = PIPELINE_DIR / "A100/alice/learner/train"
CONF_NAME = "offline.conf"
CORPUS_NAME = "corpus.txt"

OPTIONS_PER_QUESTION = 4
TRAIN_INSTANCES = 5  # the first facts of each family are the in-context examples
IN_CONTEXT_EXAMPLES = 3  # num_train_instances in offline.conf
SEED = "repro-audit offline evalset v1"

EXIT_OK = 0
EXIT_STALE = 1


@dataclass(frozen=True)
class Fact:
    """One subject and its value; `in_corpus` False leaves the fact out of the training corpus."""

    subject: str
    value: str
    in_corpus: bool = True


@dataclass(frozen=True)
class Family:
    """A relation: how to ask it, how the corpus states it, and its facts (the first ones are train)."""

    name: str
    question: str  # format string with {subject}
    sentences: tuple[str, ...]  # format strings with {subject}, {Subject} (capitalised) and {value}
    facts: tuple[Fact, ...]


FAMILIES: tuple[Family, ...] = (
    Family(
        name="capitals",
        question="What is the capital of {subject}?",
        sentences=("The capital of {subject} is {value}.", "{value} is the capital of {subject}."),
        facts=(
            Fact("France", "Paris"),
            Fact("Germany", "Berlin"),
            Fact("Italy", "Rome"),
            Fact("Spain", "Madrid"),
            Fact("Japan", "Tokyo"),
            Fact("Egypt", "Cairo"),
            Fact("Canada", "Ottawa"),
            Fact("Kenya", "Nairobi"),
            Fact("Peru", "Lima", in_corpus=False),
            Fact("Norway", "Oslo"),
            Fact("Sweden", "Stockholm"),
            Fact("Greece", "Athens"),
            Fact("Portugal", "Lisbon"),
            Fact("Russia", "Moscow"),
            Fact("China", "Beijing"),
            Fact("India", "New Delhi"),
            Fact("Australia", "Canberra"),
            Fact("Brazil", "Brasilia"),
            Fact("Argentina", "Buenos Aires"),
            Fact("Ireland", "Dublin"),
            Fact("Poland", "Warsaw"),
            Fact("Austria", "Vienna"),
            Fact("Hungary", "Budapest", in_corpus=False),
            Fact("Finland", "Helsinki"),
            Fact("Denmark", "Copenhagen"),
            Fact("Vietnam", "Hanoi"),
            Fact("Thailand", "Bangkok"),
            Fact("Cuba", "Havana", in_corpus=False),
            Fact("Chile", "Santiago"),
            Fact("Mexico", "Mexico City"),
        ),
    ),
    Family(
        name="colours",
        question="What colour is {subject}?",
        sentences=("{Subject} is {value}.", "The colour of {subject} is {value}."),
        facts=(
            Fact("a banana", "yellow"),
            Fact("grass", "green"),
            Fact("snow", "white"),
            Fact("coal", "black"),
            Fact("the sky", "blue"),
            Fact("a tomato", "red"),
            Fact("a lemon", "yellow"),
            Fact("milk", "white"),
            Fact("a carrot", "orange"),
            Fact("chocolate", "brown"),
            Fact("a strawberry", "red"),
            Fact("a pumpkin", "orange"),
            Fact("a lime", "green"),
            Fact("a cherry", "red"),
            Fact("a cloud", "white"),
            Fact("ink", "black"),
            Fact("the sea", "blue"),
            Fact("a leaf", "green"),
            Fact("a flamingo", "pink"),
            Fact("an eggplant", "purple"),
            Fact("lavender", "purple", in_corpus=False),
            Fact("ash", "grey", in_corpus=False),
            Fact("soil", "brown"),
            Fact("a sunflower", "yellow"),
            Fact("a ruby", "red"),
            Fact("a sapphire", "blue", in_corpus=False),
            Fact("an emerald", "green"),
            Fact("salt", "white"),
            Fact("charcoal", "black"),
            Fact("a peach", "pink"),
        ),
    ),
    Family(
        name="animal_sounds",
        question="What sound does {subject} make?",
        sentences=("{Subject} says {value}.", "The sound {subject} makes is {value}."),
        facts=(
            Fact("a cow", "moo"),
            Fact("a dog", "woof"),
            Fact("a cat", "meow"),
            Fact("a duck", "quack"),
            Fact("a sheep", "baa"),
            Fact("a pig", "oink"),
            Fact("a horse", "neigh"),
            Fact("a lion", "roar"),
            Fact("an owl", "hoot"),
            Fact("a snake", "hiss"),
            Fact("a bee", "buzz"),
            Fact("a frog", "croak"),
            Fact("a mouse", "squeak"),
            Fact("a chicken", "cluck"),
            Fact("a donkey", "bray"),
            Fact("a wolf", "howl"),
            Fact("a goose", "honk"),
            Fact("a crow", "caw"),
            Fact("a dove", "coo"),
            Fact("an elephant", "trumpet"),
            Fact("a turkey", "gobble"),
            Fact("a bear", "growl"),
            Fact("a goat", "bleat"),
            Fact("a cricket", "chirp"),
            Fact("a monkey", "chatter", in_corpus=False),
            Fact("a hyena", "laugh", in_corpus=False),
            Fact("a bull", "bellow"),
            Fact("a mosquito", "whine", in_corpus=False),
            Fact("a seal", "bark"),
            Fact("a pigeon", "coo"),
        ),
    ),
)

# Sentences that state no fact of the table, some of them with the table's words in another sense.
DISTRACTORS: tuple[str, ...] = (
    "The weather was mild for most of the week.",
    "Many people enjoy reading books in the evening.",
    "A river flows slowly through the old town.",
    "Paris and Berlin are both large cities.",
    "The farmer painted the old barn red.",
    "A dog and a cat sleep by the fire.",
    "The museum opens early on Sundays.",
    "Trains leave the station every hour.",
    "The children counted the stars in the night sky.",
    "Fresh bread is sold at the market each morning.",
    "The old map showed mountains, rivers and lakes.",
    "A good meal is shared with friends.",
)


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def instance_id(family: Family, index: int) -> str:
    return f"{family.name}-{index + 1:02d}"


def options_for(family: Family, index: int) -> tuple[list[str], int]:
    """The shuffled options of one question and the position of the correct one.

    Distractors are other values of the same family (never the correct value); both the choice and the
    order come from a `random.Random` seeded with the instance id, so the files are stable.
    """
    fact = family.facts[index]
    rng = random.Random(f"{SEED}/{instance_id(family, index)}")
    pool = sorted({f.value for f in family.facts if f.value != fact.value})
    options = [fact.value, *rng.sample(pool, OPTIONS_PER_QUESTION - 1)]
    rng.shuffle(options)
    return options, options.index(fact.value)


def instances(family: Family) -> list[dict[str, object]]:
    """The family's custom_mcqa instances (HELM `Instance` as JSON), train first."""
    rows: list[dict[str, object]] = []
    for index, fact in enumerate(family.facts):
        options, correct = options_for(family, index)
        rows.append(
            {
                "input": {"text": family.question.format(subject=fact.subject)},
                "references": [
                    {"output": {"text": option}, "tags": ["correct"] if position == correct else []}
                    for position, option in enumerate(options)
                ],
                "split": "train" if index < TRAIN_INSTANCES else "test",
                "id": instance_id(family, index),
            }
        )
    return rows


def render_jsonl(family: Family) -> str:
    return "".join(json.dumps(row) + "\n" for row in instances(family))


SLOW_CONF_NAME = "slow.conf"
# The slow-server fixture's set: two short runs that finish within its short evaluation limit, then a
# long one that cannot, so the limit keeps finished runs and leaves the rest unanswered.
SLOW_CAPS = (2, 2, 25)


def render_conf(caps: tuple[int | None, ...] = (None, None, None)) -> str:
    lines = [
        "# HELM run entries (HOCON) for the offline question sets, written by scripts/make_offline_evalset.py.",
        "# Each path is a file name in this folder: the eval stage copies the .jsonl files to where HELM's",
        "# custom_mcqa scenario reads them (benchmark_output/scenarios/custom_mcqa/).",
        "entries: [",
    ]
    lines += [
        f'  {{description: "custom_mcqa:path={family.name}.jsonl,num_train_instances={IN_CONTEXT_EXAMPLES},'
        f'model=neurips/local{f",max_eval_instances={cap}" if cap else ""}", priority: 1}},'
        for family, cap in zip(FAMILIES, caps, strict=True)
    ]
    lines.append("]")
    return "\n".join(lines) + "\n"


def corpus_sentences() -> list[str]:
    """Every in-corpus fact stated once in each of its family's sentence forms, plus the distractors."""
    sentences = list(DISTRACTORS)
    for family in FAMILIES:
        for fact in family.facts:
            if fact.in_corpus:
                sentences += [
                    form.format(subject=fact.subject, Subject=_capitalised(fact.subject), value=fact.value)
                    for form in family.sentences
                ]
    random.Random(f"{SEED}/corpus").shuffle(sentences)
    return sentences


def render_corpus() -> str:
    return "".join(sentence + "\n" for sentence in corpus_sentences())


def corpus_folders(root: Path) -> list[Path]:
    """The learner's train/ folder and every other entry's train/ folder under fixtures/pipeline/."""
    found = {path.relative_to(root) for path in (root / PIPELINE_DIR).glob("*/*/*/train") if path.is_dir()}
    return sorted(found | {LEARNER_TRAIN_DIR})


def render(root: Path = REPO_ROOT) -> dict[Path, str]:
    """Every file this script owns, relative to the repository root, with its content."""
    files = {EVALSET_DIR / f"{family.name}.jsonl": render_jsonl(family) for family in FAMILIES}
    files[EVALSET_DIR / CONF_NAME] = render_conf()
    files[EVALSET_DIR / SLOW_CONF_NAME] = render_conf(SLOW_CAPS)
    corpus = render_corpus()
    for folder in corpus_folders(root):
        files[folder / CORPUS_NAME] = corpus
    return files


def stale_files(root: Path = REPO_ROOT) -> list[Path]:
    """Files that are missing or differ from what `render` gives."""
    stale = []
    for relative, content in render(root).items():
        path = root / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            stale.append(relative)
    return stale


def write_all(root: Path = REPO_ROOT) -> list[Path]:
    """Write every file; returns the ones that changed."""
    changed = stale_files(root)
    for relative, content in render(root).items():
        if relative in changed:
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8", newline="\n")
    return changed


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file is stale")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root (default: this checkout)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.check:
        stale = stale_files(args.root)
        for relative in stale:
            print(f"stale: {relative} (run scripts/make_offline_evalset.py)", file=sys.stderr)
        return EXIT_STALE if stale else EXIT_OK
    for relative in write_all(args.root):
        print(f"wrote {relative}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
