"""The HTTP service: FastAPI app factory, predictor and routes."""
