"""The framework floor: FastAPI with the same request schema, answering a constant.

What /predict costs beyond this is what the service itself adds (validation is the same).
"""

from fastapi import FastAPI

from schemas.features import CustomerFeatures

app = FastAPI()


@app.post("/predict")
def predict(customer: CustomerFeatures) -> dict[str, object]:
    return {"probability": 0.5, "default": False, "threshold": 0.5, "model_version": "constant"}
