"""The inspector's data layer: the read model (`InspectorReader`), the search index, the store's
tree before the fold, and what a target names. Nothing here imports Textual."""
