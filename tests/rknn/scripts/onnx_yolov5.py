# In the shape of RKNN-Toolkit2's examples/onnx/yolov5/test.py (written for rknn.api): no
# target_platform, mean 0 / std 255, an RGB HWC uint8 image without a batch axis, three heads.
import cv2
import numpy as np
from rknn.api import RKNN

ONNX_MODEL = 'yolo.onnx'
RKNN_MODEL = 'yolo.rknn'
IMG_PATH = './img_0.jpg'
DATASET = './dataset.txt'
QUANTIZE_ON = True
IMG_SIZE = 64

if __name__ == '__main__':
    rknn = RKNN(verbose=True)

    print('--> Config model')
    rknn.config(mean_values=[[0, 0, 0]], std_values=[[255, 255, 255]])
    print('done')

    print('--> Loading model')
    ret = rknn.load_onnx(model=ONNX_MODEL)
    if ret != 0:
        print('Load model failed!')
        exit(ret)
    print('done')

    print('--> Building model')
    ret = rknn.build(do_quantization=QUANTIZE_ON, dataset=DATASET)
    if ret != 0:
        print('Build model failed!')
        exit(ret)
    print('done')

    print('--> Export rknn model')
    ret = rknn.export_rknn(RKNN_MODEL)
    if ret != 0:
        print('Export rknn model failed!')
        exit(ret)
    print('done')

    print('--> Init runtime environment')
    ret = rknn.init_runtime()
    if ret != 0:
        print('Init runtime environment failed!')
        exit(ret)
    print('done')

    img = cv2.imread(IMG_PATH)
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    img = cv2.resize(img, (IMG_SIZE, IMG_SIZE))

    print('--> Running model')
    outputs = rknn.inference(inputs=[img])
    np.save('./onnx_yolov5_0.npy', outputs[0])
    np.save('./onnx_yolov5_1.npy', outputs[1])
    np.save('./onnx_yolov5_2.npy', outputs[2])
    print('done')

    input0_data = outputs[0].reshape([3, -1] + list(outputs[0].shape[-2:]))
    input_data = [np.transpose(input0_data, (2, 3, 0, 1))]
    print('head 0 grid', input_data[0].shape)

    rknn.release()
