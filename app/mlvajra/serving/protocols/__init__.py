"""Other wire protocols over the one predictor: Open Inference Protocol (V2) and MLflow scoring.

Each codec decodes its format into plain records and judges them by the /predict rules
(`records.RecordRules`); each protocol's routes answer errors in the shape its spec mandates.
"""
