"""Batch jobs (catalogue builds, multi-policy replays), run on an engine (safeio.engine).

A job splits its work into independent tasks (a title, a candidate policy) and hands them to an
`Engine` (`safeio.engine`): the local process pool by default, Ray when one machine is not
enough. Tasks write their own outputs and return small results; the driver gathers them.
"""
