"""Deliver: takes in, conformed BWF, dialog stem, EDL/OTIO, cue sheet and report out."""
