"""Baselines IDM is compared with: NMF decomposition (`baselines.nmf`) and LarsNet (`baselines.larsnet`)."""
