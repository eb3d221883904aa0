# In the shape of RKNN-Toolkit2's examples/functions/multi_input_test/test.py (written for
# rknn.api; an ONNX model here instead of the TensorFlow one): four inputs, one mean/std list
# each (the last one single-channel), an RGB image, two float .npy inputs and a gray image.
import cv2
import numpy as np
from rknn.api import RKNN

if __name__ == '__main__':
    rknn = RKNN(verbose=True)

    print('--> Config model')
    rknn.config(mean_values=[[127.5, 127.5, 127.5], [0, 0, 0], [0, 0, 0], [127.5]],
                std_values=[[128, 128, 128], [1, 1, 1], [1, 1, 1], [128]])
    print('done')

    print('--> Loading model')
    ret = rknn.load_onnx(model='./conv_4in.onnx',
                         inputs=['input1', 'input2', 'input3', 'input4'],
                         outputs=['output'],
                         input_size_list=[[1, 3, 32, 32], [1, 3, 32, 32], [1, 3, 32, 32],
                                          [1, 1, 32, 32]])
    if ret != 0:
        print('Load model failed!')
        exit(ret)
    print('done')

    print('--> Building model')
    ret = rknn.build(do_quantization=True, dataset='./dataset_4in.txt')
    if ret != 0:
        print('Build model failed!')
        exit(ret)
    print('done')

    print('--> Export rknn model')
    ret = rknn.export_rknn('./conv_4in.rknn')
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

    img = cv2.imread('./img_0.jpg')
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    img_gray = cv2.imread('./gray.png', cv2.IMREAD_GRAYSCALE)
    img_gray = np.expand_dims(img_gray, -1)
    input2 = np.load('input2.npy').astype('float32')
    input3 = np.load('input3.npy').astype('float32')

    print('--> Running model')
    outputs = rknn.inference(inputs=[img, input2, input3, img_gray])
    print('done')
    print('inference result: ', outputs[0].reshape((1, -1)).shape)

    rknn.release()
