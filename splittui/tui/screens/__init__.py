"""splittui.tui.screens"""
