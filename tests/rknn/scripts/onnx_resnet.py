# In the shape of RKNN-Toolkit2's examples/onnx/resnet50v2/test.py (written for rknn.api).
import cv2
import numpy as np
from rknn.api import RKNN

ONNX_MODEL = 'resnet.onnx'
RKNN_MODEL = 'resnet.rknn'
IMG_PATH = './img_0.jpg'
DATASET = './dataset.txt'


def show_outputs(outputs):
    output = outputs[0].reshape(-1)
    top5 = np.argsort(output)[::-1][:5]
    print('-----TOP 5-----')
    for i in top5:
        print('[{}]: {:.5f}'.format(i, output[i]))


if __name__ == '__main__':
    rknn = RKNN(verbose=True)

    print('--> Config model')
    rknn.config(mean_values=[[123.675, 116.28, 103.53]], std_values=[[58.82, 58.82, 58.82]],
                target_platform='rk3566')
    print('done')

    print('--> Loading model')
    ret = rknn.load_onnx(model=ONNX_MODEL)
    if ret != 0:
        print('Load model failed!')
        exit(ret)
    print('done')

    print('--> Building model')
    ret = rknn.build(do_quantization=True, dataset=DATASET)
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

    img = cv2.imread(IMG_PATH)
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    img = np.expand_dims(img, 0)

    print('--> Init runtime environment')
    ret = rknn.init_runtime()
    if ret != 0:
        print('Init runtime environment failed!')
        exit(ret)
    print('done')

    print('--> Running model')
    outputs = rknn.inference(inputs=[img], data_format=['nhwc'])
    show_outputs(outputs)
    print('done')

    perf = rknn.eval_perf()
    memory = rknn.eval_memory()

    rknn.release()
