"""Accuracy assessment and area estimation of a monitor run (Olofsson et al. 2014): a stratified
random sample of its cells for people to review blind (`sample`), and error-adjusted areas with
95% intervals from the reviewed sample (`area`)."""
