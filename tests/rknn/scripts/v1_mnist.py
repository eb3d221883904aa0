# In the shape of RKNN-Toolkit v1's examples/common_function_demos/single_channel_input/mnist/
# test.py (written for rknn.api): a TorchScript model with input_size_list [[1, 28, 28]] (no
# batch), target_platform as a list, an HWC .npy dataset, init_runtime(target='rv1126').
import numpy as np
from rknn.api import RKNN

model = 'mnist_cnn.pt'
rknn_model = 'mnist_cnn.rknn'
input_size_list = [[1, 28, 28]]
npy_data_path = './test.npy'
dataset_path = 'dataset_npy.txt'

if __name__ == '__main__':
    with open(dataset_path, 'w') as F:
        F.write(npy_data_path)

    target = 'rv1126'
    device_id = None

    rknn = RKNN()

    print('--> Config model')
    rknn.config(mean_values=[[0.1307 * 255]], std_values=[[0.3081 * 255]],
                target_platform=[target])
    print('done')

    print('--> Loading model')
    ret = rknn.load_pytorch(model=model, input_size_list=input_size_list)
    if ret != 0:
        print('Load Pytorch model failed!')
        rknn.release()
        exit(ret)
    print('done')

    print('--> Building model')
    ret = rknn.build(do_quantization=True, dataset=dataset_path)
    if ret != 0:
        print('Build model failed!')
        rknn.release()
        exit(ret)
    print('done')

    print('--> Export RKNN model')
    ret = rknn.export_rknn(rknn_model)
    if ret != 0:
        print('Export RKNN model failed!')
        rknn.release()
        exit(ret)
    print('done')

    print('--> Init runtime environment')
    ret = rknn.init_runtime(target=target, device_id=device_id)
    if ret != 0:
        print('Init runtime environment failed')
        rknn.release()
        exit(ret)
    print('done')

    input_data = np.load(npy_data_path)
    print('--> Running model')
    outputs = rknn.inference(inputs=[input_data])
    print('  The digit number is {}'.format(outputs[0].argmax()))
    rknn.release()
