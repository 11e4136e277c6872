"""Batch jobs (catalogue builds, evaluations, multi-policy replays) and the engines that run them.

A job splits its work into independent tasks (a title, a candidate policy) and hands them to an
`Engine` (`artbandit.jobs.engine`): the local process pool by default, Ray when one machine is not
enough. Tasks write their own outputs and return small results; the driver gathers them.
"""
