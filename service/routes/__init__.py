"""HTTP routes: thin adapters between requests and the predictor or the model store."""
