"""Shots: where one begins or ends (`boundaries`: cuts, flashes, fades, dissolves) and the one-pass
tracker that groups decoded frames into shots and holds the best few of each (`tracker`)."""
