"""splittui.sim"""
