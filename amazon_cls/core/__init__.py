"""The vocabulary and the score, which every stage shares: the 17 labels and their order
(`labels`), the competition's chip-averaged F2 (`metric`), per-label decision thresholds that know
the view they were fitted under (`thresholds`), and the registries that extension points use."""
