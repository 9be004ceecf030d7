"""StemGMD preprocessing, bring-your-own data, and the datasets the trainer reads.

`python -m data.preprocess` writes the manifest and training cache; `data.datasets` reads them.
"""
