"""Why the model answers what it does: the debug path, the explore page and the batch report.

Local tools for a model's owners. They unpickle the artifact's verified `model.joblib` (the
step-by-step output needs the scikit-learn objects), so every entry point asks for trust first.
"""
