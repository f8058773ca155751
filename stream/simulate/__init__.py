"""Synthetic, labelled API traffic: benign personas (hard negatives included) and attacks."""
