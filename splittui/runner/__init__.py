"""splittui.runner"""
