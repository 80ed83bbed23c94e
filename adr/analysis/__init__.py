"""Analysis: a session's lines in, per-line words, phones, prosody, actor, lips and damage out."""
