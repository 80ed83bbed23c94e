"""Voice: an actor's clean recordings in, a voice model out; a line's analysis in, a take out."""
