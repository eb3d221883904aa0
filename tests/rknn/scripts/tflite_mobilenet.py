# In the shape of RKNN-Toolkit v1's examples/tflite/mobilenet_v1/test.py (written for rknn.api).
import cv2
import numpy as np
from rknn.api import RKNN


def show_outputs(outputs):
    output = outputs[0][0]
    output_sorted = sorted(output, reverse=True)
    top5_str = 'mobilenet\n-----TOP 5-----\n'
    for i in range(5):
        value = output_sorted[i]
        index = np.where(output == value)
        top5_str += '{}: {}\n'.format(index[0][0], value)
    print(top5_str)


if __name__ == '__main__':
    rknn = RKNN()

    print('--> config model')
    rknn.config(channel_mean_value='128 128 128 128', reorder_channel='0 1 2',
                target_platform=['rv1126'])
    print('done')

    print('--> Loading model')
    ret = rknn.load_tflite(model='./mobilenet.tflite')
    if ret != 0:
        print('Load mobilenet failed!')
        exit(ret)
    print('done')

    print('--> Building model')
    ret = rknn.build(do_quantization=False)
    if ret != 0:
        print('Build mobilenet failed!')
        exit(ret)
    print('done')

    img = cv2.imread('./img_0.jpg')
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

    print('--> Init runtime environment')
    ret = rknn.init_runtime()
    if ret != 0:
        print('Init runtime environment failed')
        exit(ret)
    print('done')

    print('--> Running model')
    outputs = rknn.inference(inputs=[img])
    show_outputs(outputs)
    print('done')

    rknn.release()
