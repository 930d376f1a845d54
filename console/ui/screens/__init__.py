"""Modal screens: confirmation, errors, the target picker and the dispatch history."""
