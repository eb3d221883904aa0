# In the shape of rknn-toolkit-lite2's examples/resnet18/test.py (on-board inference, written
# for rknnlite.api): pick the model by the board's /proc/device-tree/compatible, load_rknn,
# init_runtime(core_mask=NPU_CORE_0) on RK3588, inference on an RGB image, top-5, release.
import platform

import cv2
import numpy as np
from rknnlite.api import RKNNLite

DEVICE_COMPATIBLE_NODE = '/proc/device-tree/compatible'
INPUT_SIZE = 64
RK3566_RK3568_RKNN_MODEL = 'resnet_for_rk3566_rk3568.rknn'
RK3588_RKNN_MODEL = 'resnet_for_rk3588.rknn'


def get_host():
    # get platform and device type
    system = platform.system()
    machine = platform.machine()
    os_machine = system + '-' + machine
    if os_machine == 'Linux-aarch64':
        try:
            with open(DEVICE_COMPATIBLE_NODE) as f:
                device_compatible_str = f.read()
                if 'rk3588' in device_compatible_str:
                    host = 'RK3588'
                else:
                    host = 'RK3566_RK3568'
        except IOError:
            print('Read device node {} failed.'.format(DEVICE_COMPATIBLE_NODE))
            exit(-1)
    else:
        host = os_machine
    return host


def show_top5(result):
    output = result[0].reshape(-1)
    output_sorted_indices = np.argsort(output)[::-1][:5]
    top5_str = '-----TOP 5-----\n'
    for i, index in enumerate(output_sorted_indices):
        value = output[index]
        top5_str += '[{}] score:{:.6f}\n'.format(index, value)
    print(top5_str)


if __name__ == '__main__':
    host_name = get_host()
    if host_name == 'RK3588':
        rknn_model = RK3588_RKNN_MODEL
    else:
        rknn_model = RK3566_RK3568_RKNN_MODEL  # (on a PC: the host is e.g. Linux-x86_64)

    rknn_lite = RKNNLite()

    print('--> Load RKNN model')
    ret = rknn_lite.load_rknn(rknn_model)
    if ret != 0:
        print('Load RKNN model failed')
        exit(ret)
    print('done')

    ori_img = cv2.imread('./img_0.jpg')
    img = cv2.cvtColor(ori_img, cv2.COLOR_BGR2RGB)
    img = cv2.resize(img, (INPUT_SIZE, INPUT_SIZE))
    img = np.expand_dims(img, 0)

    print('--> Init runtime environment')
    if host_name == 'RK3588':
        ret = rknn_lite.init_runtime(core_mask=RKNNLite.NPU_CORE_0)
    else:
        ret = rknn_lite.init_runtime()
    if ret != 0:
        print('Init runtime environment failed')
        exit(ret)
    print('done')

    print('--> Running model')
    outputs = rknn_lite.inference(inputs=[img])
    show_top5(outputs)
    print('done')

    rknn_lite.release()
