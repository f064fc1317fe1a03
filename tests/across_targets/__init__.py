"""across_targets"""
