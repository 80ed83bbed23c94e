"""Words for the demo production: a seeded sentence generator and the scene's dialogue.

The generator is a small phrase grammar over a film-set vocabulary (crew, props, places,
weather, time). It produces varied, natural English sentences for the actors' enrollment
recordings; the vocabulary was chosen to cover the English phones (all vowels and diphthongs,
the affricates, ``ʒ`` in *measure*/*usual*, ``θ``/``ð``, ``ŋ``). Sentences avoid digits,
hyphens and apostrophes so that every synthesizer and aligner sees the same word tokens.

The scene is ten fixed lines between three characters (:data:`SCENE_LINES`); the generator
never returns one of them (:func:`enrollment_sentences` filters them out).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from adr.core.records import Record

__all__ = ["ScriptLine", "SCENE_LINES", "SentenceGenerator", "enrollment_sentences", "tokens"]


@dataclass(frozen=True)
class ScriptLine(Record):
    """One scripted line of the demo scene.

    Attributes
    ----------
    character : str
        Character name in the script (upper case).
    text : str
        What the character says.
    """

    character: str
    text: str


#: The scene: a night exterior on a rooftop, three crew members waiting for a helicopter shot.
SCENE_LINES: tuple[ScriptLine, ...] = (
    ScriptLine(
        "MAYA", "Kal, the helicopter is late again, and we lose the light in twenty minutes."
    ),
    ScriptLine("KAL", "I heard the pilot is circling the harbour because of the fog."),
    ScriptLine("JOE", "Then we shoot the close ups first and save the wide for the very end."),
    ScriptLine("MAYA", "Fine, but somebody tell wardrobe that her jacket still looks wet."),
    ScriptLine("KAL", "The jacket is supposed to look wet, she just climbed out of the river."),
    ScriptLine("JOE", "Nobody told me about a river, is that in the new pages?"),
    ScriptLine("MAYA", "Joe, read your call sheet once in a while, it saves us all a headache."),
    ScriptLine("KAL", "Quiet, everyone, I can hear the rotor over the water."),
    ScriptLine("JOE", "That is a garbage truck, my friend, but I love your optimism."),
    ScriptLine("MAYA", "Places, please, we go on the next one whether it flies or not."),
)

_VOCAB: dict[str, tuple[str, ...]] = {
    "crew": (
        "the key grip",
        "the best boy",
        "the boom operator",
        "the script supervisor",
        "the stunt coordinator",
        "the location manager",
        "the sound mixer",
        "the focus puller",
        "the makeup artist",
        "the production designer",
        "the caterer",
        "the second assistant director",
        "the prop master",
        "the young driver",
        "the electrician",
        "the choreographer",
        "the costume designer",
        "our editor",
    ),
    "name": (
        "Judith",
        "Oscar",
        "Theo",
        "Vivian",
        "Gregory",
        "Ursula",
        "Boris",
        "Penelope",
        "Marcus",
        "Eugene",
        "Heather",
        "Zachary",
        "Rosalind",
        "Quentin",
        "Yvonne",
    ),
    "thing": (
        "the smoke machine",
        "the dolly track",
        "the old camera",
        "the rain tower",
        "the rubber chicken",
        "the treasure chest",
        "the fake beard",
        "the leather boots",
        "the vintage jukebox",
        "the wooden ladder",
        "the blue gel",
        "the slate",
        "the heavy generator",
        "the walkie talkie",
        "the breakaway bottle",
        "the crane arm",
        "the mirror",
        "the green screen",
        "the silver reflector",
        "the typewriter",
    ),
    "place": (
        "the parking garage",
        "the empty warehouse",
        "the beach house",
        "the hotel lobby",
        "the edge of the forest",
        "the rooftop",
        "the train station",
        "the village square",
        "the quarry",
        "the television studio",
        "the ferry",
        "the hospital corridor",
        "the diner on the highway",
        "the abandoned church",
        "the harbour",
    ),
    "time": (
        "before sunrise",
        "after lunch",
        "at the end of the day",
        "during the last rehearsal",
        "on the night shoot",
        "this morning",
        "yesterday evening",
        "in the middle of the take",
        "right after the wrap",
        "before the first setup",
        "on Thursday",
    ),
    "adj": (
        "enormous",
        "quiet",
        "shiny",
        "fragile",
        "muddy",
        "beautiful",
        "strange",
        "loud",
        "borrowed",
        "expensive",
        "crooked",
        "soggy",
        "gorgeous",
        "awkward",
        "usual",
    ),
    "verb_past": (
        "repaired",
        "dropped",
        "painted",
        "borrowed",
        "hid",
        "measured",
        "polished",
        "carried",
        "rejected",
        "loaded",
        "guarded",
        "forgot",
        "adjusted",
        "washed",
        "chose",
    ),
    "verb_base": (
        "check",
        "move",
        "bring",
        "hold",
        "fix",
        "push",
        "measure",
        "clean",
        "watch",
        "rehearse",
        "charge",
        "judge",
        "label",
        "pack",
        "lift",
    ),
    "weather": (
        "the wind picked up",
        "the clouds rolled in",
        "a thunderstorm broke out",
        "the fog came down",
        "the sun finally appeared",
        "it started to drizzle",
        "the temperature dropped",
        "the tide went out",
    ),
    "reason": (
        "the light was changing",
        "the neighbours complained about the noise",
        "the lens was scratched",
        "nobody had signed the release",
        "the actors needed a break",
        "the permit expired at noon",
        "the director wanted a different angle",
        "the pleasure boat kept drifting into the shot",
        "the batteries were flat",
    ),
    "feeling": (
        "thrilled",
        "exhausted",
        "nervous",
        "annoyed",
        "delighted",
        "puzzled",
        "relieved",
        "jealous",
        "amused",
        "anxious",
    ),
}

_TEMPLATES: tuple[str, ...] = (
    "{Crew} {verb_past} {thing} {time}.",
    "{Crew} {verb_past} {thing} near {place}, because {reason}.",
    "{Name} was {feeling} when {weather} over {place}.",
    "Could you {verb_base} {thing} before {crew} gets back?",
    "We had to leave {place} {time}, since {reason}.",
    "{Name} says {thing} looks {adj} in the wide shot.",
    "Please {verb_base} {thing} and tell {name} that {reason}.",
    "{Time}, {weather}, and {crew} looked {feeling}.",
    "Why did {crew} bring {adj} props to {place}?",
    "Nobody expected {thing} to look so {adj} on the monitor.",
    "{Name} and {name} {verb_past} {thing} together {time}.",
    "Last time {weather}, we moved everything to {place}.",
    "It is usual for {crew} to {verb_base} {thing} twice.",
    "{Crew} asked whether {thing} could stay at {place} overnight.",
    "The measure of a good day is how {feeling} {crew} feels at the wrap.",
    "I think {crew} was {feeling}, because {reason}.",
    "Have you seen {thing}? {Name} needs it at {place}.",
    "{Name} quietly {verb_past} {thing} while {crew} was asleep.",
)

_SLOT = re.compile(r"\{(\w+)\}")


def tokens(text: str) -> list[str]:
    """Word tokens of a line: whitespace-separated, punctuation stripped, lower case.

    Examples
    --------
    >>> tokens("Places, please!")
    ['places', 'please']
    """
    out = []
    for raw in text.split():
        word = re.sub(r"[^\w']", "", raw).lower()
        if word:
            out.append(word)
    return out


class SentenceGenerator:
    """Seeded random sentences from the film-set grammar.

    Parameters
    ----------
    seed : int
        Seed of the generator; the same seed gives the same sentences.
    """

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def _pick(self, options: tuple[str, ...]) -> str:
        return options[int(self._rng.integers(len(options)))]

    def sentence(self) -> str:
        """One new sentence."""
        template = self._pick(_TEMPLATES)

        def fill(match: re.Match[str]) -> str:
            slot = match.group(1)
            word = self._pick(_VOCAB[slot.lower()])
            return word[0].upper() + word[1:] if slot[0].isupper() else word

        text = _SLOT.sub(fill, template)
        return text[0].upper() + text[1:]


def enrollment_sentences(seed: int, count: int, exclude: tuple[str, ...] = ()) -> list[str]:
    """``count`` distinct generated sentences, none equal to a scene line or in ``exclude``.

    Parameters
    ----------
    seed : int
        Generator seed (use a different one per actor).
    count : int
        Number of sentences.
    exclude : tuple of str
        Further sentences to avoid (compared by their word tokens).

    Returns
    -------
    list of str, length ``count``
    """
    banned = {" ".join(tokens(line.text)) for line in SCENE_LINES}
    banned |= {" ".join(tokens(t)) for t in exclude}
    gen = SentenceGenerator(seed)
    out: list[str] = []
    tries = 0
    while len(out) < count:
        tries += 1
        if tries > 100 * count + 1000:
            raise RuntimeError("sentence grammar too small for the requested count")
        text = gen.sentence()
        key = " ".join(tokens(text))
        if key in banned:
            continue
        banned.add(key)
        out.append(text)
    return out
