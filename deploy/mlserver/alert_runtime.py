"""Custom MLServer runtime: classifies N alert texts into severity and category.

Request: one BYTES input (any name; the first input is used) of shape [N] holding
the alert texts (see alert_text.py for the format).
Response: four outputs of shape [N], all in one response:
  severity (BYTES), severity_confidence (FP64), category (BYTES), category_confidence (FP64)
where a confidence is the predicted class's probability.
"""
import joblib
import numpy as np
from mlserver import MLModel
from mlserver.codecs import StringCodec
from mlserver.errors import InferenceError
from mlserver.types import InferenceRequest, InferenceResponse, ResponseOutput
from mlserver.utils import get_model_uri

# The pickled pipelines refer to alert_text's feature functions; import it while this
# module's folder (the model directory, where ml-up copies it) is importable.
import alert_text  # noqa: F401,E402


class AlertClassifierRuntime(MLModel):
    async def load(self) -> bool:
        uri = await get_model_uri(self._settings)
        models = joblib.load(uri)
        self._severity = models["severity"]
        self._category = models["category"]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        if len(payload.inputs) != 1:
            raise InferenceError(f"expected exactly one BYTES input, got {len(payload.inputs)}")
        request_input = payload.inputs[0]
        if request_input.datatype != "BYTES":
            raise InferenceError(f"input {request_input.name} must be BYTES, got {request_input.datatype}")
        texts = [t.decode("utf-8") if isinstance(t, bytes) else str(t) for t in StringCodec.decode_input(request_input)]
        outputs = []
        for name, model in (("severity", self._severity), ("category", self._category)):
            probabilities = model.predict_proba(texts)
            best = np.argmax(probabilities, axis=1)
            labels = [str(model.classes_[i]) for i in best]
            confidences = [float(probabilities[row, i]) for row, i in enumerate(best)]
            outputs.append(ResponseOutput(name=name, shape=[len(texts)], datatype="BYTES", data=labels))
            outputs.append(ResponseOutput(name=f"{name}_confidence", shape=[len(texts)], datatype="FP64", data=confidences))
        return InferenceResponse(model_name=self.name, model_version=self.version, outputs=outputs)
