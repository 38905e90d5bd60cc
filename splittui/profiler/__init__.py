"""splittui.profiler"""
