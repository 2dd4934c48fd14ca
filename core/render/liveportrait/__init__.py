"""LivePortrait's networks, written from the published structure (see
``../shared/reference/liveportrait_facts.md``) and proven equal to the official code on
the parity fixture: one module per network (appearance, motion, warping, spade,
stitching), the head-pose maths (pose), safe strict loading (weights) and the five
networks together (model)."""
