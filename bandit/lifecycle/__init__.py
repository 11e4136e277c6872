"""The life of one decision event: its id (`event_ids`), its reward window (`window`), and the
event book that takes it from rank to its final reward (`book`).
"""
