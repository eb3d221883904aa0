# In the shape of rknn_model_zoo's py_utils/rknn_executor.py and a demo using it (written for
# rknn.api): load_rknn, init_runtime(target=args.target) whose default is 'rk3566', run(img).
import sys

import cv2
import numpy as np
from rknn.api import RKNN


class RKNN_model_container():
    def __init__(self, model_path, target=None, device_id=None) -> None:
        rknn = RKNN()
        rknn.load_rknn(model_path)
        print('--> Init runtime environment')
        if target is None:
            ret = rknn.init_runtime()
        else:
            ret = rknn.init_runtime(target=target, device_id=device_id)
        if ret != 0:
            print('Init runtime environment failed')
            exit(ret)
        print('done')
        self.rknn = rknn

    def run(self, inputs):
        if self.rknn is None:
            print("ERROR: rknn has been released")
            return []
        if not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        return self.rknn.inference(inputs=inputs)

    def release(self):
        self.rknn.release()
        self.rknn = None


if __name__ == '__main__':
    model_path = sys.argv[1]
    target = sys.argv[2] if len(sys.argv) > 2 else 'rk3566'
    model = RKNN_model_container(model_path, target, None)
    img = cv2.imread('./img_0.jpg')
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    img = cv2.resize(img, (64, 64))
    outputs = model.run(np.expand_dims(img, 0))
    scores = np.squeeze(outputs[0])
    print('-----TOP 5-----')
    for i in np.argsort(scores)[::-1][:5]:
        print('[%d] score=%.2f' % (i, scores[i]))
    model.release()
