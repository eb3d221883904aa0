# In the shape of RKNN-Toolkit2's examples/functions/dynamic_input/test.py (written for
# rknn.api; an ONNX model with dynamic height/width instead of the Caffe one): shape sets in
# config(dynamic_input=...), BGR images fed NCHW at three of the sizes.
import cv2
import numpy as np
from rknn.api import RKNN

if __name__ == '__main__':
    rknn = RKNN(verbose=True)

    dynamic_input = [
        [[1, 3, 48, 48]],    # set 0: [input0_48]
        [[1, 3, 64, 64]],    # set 1: [input0_64]
        [[1, 3, 32, 32]],    # set 2: [input0_32]
    ]

    print('--> Config model')
    rknn.config(mean_values=[103.94, 116.78, 123.68], std_values=[58.82, 58.82, 58.82],
                quant_img_RGB2BGR=True, target_platform='rk3566', dynamic_input=dynamic_input)
    print('done')

    print('--> Loading model')
    ret = rknn.load_onnx(model='./dyn.onnx')
    if ret != 0:
        print('Load model failed!')
        exit(ret)
    print('done')

    print('--> Building model')
    ret = rknn.build(do_quantization=True, dataset='./dataset.txt')
    if ret != 0:
        print('Build model failed!')
        exit(ret)
    print('done')

    print('--> Export rknn model')
    ret = rknn.export_rknn('./dyn.rknn')
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
    results = {}
    for size in (48, 32, 64):
        img2 = cv2.resize(img, (size, size))
        img2 = np.expand_dims(img2, 0)
        img2 = np.transpose(img2, (0, 3, 1, 2))
        outputs = rknn.inference(inputs=[img2], data_format=['nchw'])
        np.save('./functions_dynamic_input_{}.npy'.format(size), outputs[0])
        results[size] = outputs[0]
    print('done')

    rknn.release()
