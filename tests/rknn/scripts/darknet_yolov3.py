# In the shape of RKNN-Toolkit v1's examples/darknet/yolov3/test.py (written for rknn.api).
import cv2
import numpy as np
from rknn.api import RKNN

GRID0, GRID1 = 5, 10
SPAN = 3
NUM_CLS = 80
MAX_BOXES = 500
OBJ_THRESH = 0.5
NMS_THRESH = 0.6


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


if __name__ == '__main__':
    MODEL_PATH = './yolov3-tiny.cfg'
    WEIGHT_PATH = './yolov3-tiny.weights'
    RKNN_MODEL_PATH = './yolov3-tiny.rknn'
    im_file = './img_1.jpg'
    DATASET = './dataset.txt'

    rknn = RKNN()
    rknn.config(channel_mean_value='0 0 0 255', reorder_channel='0 1 2', batch_size=1)

    print('--> Loading model')
    ret = rknn.load_darknet(model=MODEL_PATH, weight=WEIGHT_PATH)
    if ret != 0:
        print('load darknet failed!')
        exit(ret)
    print('done')

    print('--> Building model')
    ret = rknn.build(do_quantization=True, dataset=DATASET)
    if ret != 0:
        print('build yolov3 failed!')
        exit(ret)
    print('done')

    ret = rknn.export_rknn(RKNN_MODEL_PATH)
    if ret != 0:
        print('export yolov3 failed!')
        exit(ret)

    ret = rknn.init_runtime()
    if ret != 0:
        print('init runtime failed.')
        exit(ret)

    img = cv2.imread(im_file)
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    img = cv2.resize(img, (160, 160))

    outputs = rknn.inference(inputs=[img])
    input0_data = outputs[0]
    input1_data = outputs[1]
    print(input0_data.shape, input1_data.shape)

    rknn.release()
