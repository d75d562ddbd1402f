"""hitl's vocabulary: the types every layer speaks (escalations, cases and decisions, pauses, audit actions,
outbox messages). Pure: no I/O, no imports from the rest of hitl."""
